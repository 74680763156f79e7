//! The body phases, for rules with `match.mcp`: a request's body buffered by Envoy until it is
//! whole (or outgrows the limit) and handed to the core once; a list answer's body passed
//! through the core, which cuts it to what the caller may call. Also the answer's headers,
//! which get what the core decided with the request (a DPoP server nonce). A request held for its
//! decision keeps its body and trailers stopped: going on would send its stopped headers
//! upstream.

use super::abi::*;
use super::envoy::{add_header, header, set_header};
use super::filter::stream;
use super::reply::{apply, fail_closed, guard};
use super::stream::Stream;
use authgate::mcp::answer::Emit;
use authgate::worker::{Answer, Step};

/// What Envoy holds of one direction's body: what it buffered, then what just arrived (unless
/// what arrived is the buffer, handed on by a filter before this one).
fn body_of(filter: EnvoyPtr, request: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for kind in parts(filter, request) {
        // SAFETY: the stream's pointer during its hook; the array sized as Envoy said, read
        // before the hook returns.
        unsafe {
            let n = envoy_dynamic_module_callback_http_get_body_chunks_size(filter, kind);
            let mut chunks = vec![EnvoyBuffer::NULL; n];
            if n > 0
                && envoy_dynamic_module_callback_http_get_body_chunks(
                    filter,
                    kind,
                    chunks.as_mut_ptr(),
                )
            {
                for c in &chunks {
                    out.extend_from_slice(c.as_bytes());
                }
            }
        }
    }
    out
}

/// Which of one direction's buffered and received bodies hold distinct bytes.
fn parts(filter: EnvoyPtr, request: bool) -> Vec<u32> {
    // SAFETY: the stream's pointer during its hook.
    let (same, buffered, received) = unsafe {
        match request {
            true => (
                envoy_dynamic_module_callback_http_received_buffered_request_body(filter),
                BODY_BUFFERED_REQUEST,
                BODY_RECEIVED_REQUEST,
            ),
            false => (
                envoy_dynamic_module_callback_http_received_buffered_response_body(filter),
                BODY_BUFFERED_RESPONSE,
                BODY_RECEIVED_RESPONSE,
            ),
        }
    };
    match same {
        true => vec![received],
        false => vec![buffered, received],
    }
}

/// How many bytes of one direction's body Envoy holds.
fn size_of(filter: EnvoyPtr, request: bool) -> usize {
    parts(filter, request)
        .into_iter()
        // SAFETY: the stream's pointer during its hook.
        .map(|k| unsafe { envoy_dynamic_module_callback_http_get_body_size(filter, k) })
        .sum()
}

/// Replaces what Envoy holds of the answer's body with `out`: in the body hook, the new bytes
/// are the received body; in the trailers hook there is none, and they go to the buffer.
fn replace_answer(filter: EnvoyPtr, out: &[u8]) {
    let kinds = parts(filter, false);
    // SAFETY: the stream's pointer during its hook; our buffer, for the call. A body that is
    // absent says false to drain, and has nothing to drain.
    let ok = unsafe {
        for k in kinds {
            envoy_dynamic_module_callback_http_drain_body(filter, k, usize::MAX);
        }
        envoy_dynamic_module_callback_http_append_body(
            filter,
            BODY_RECEIVED_RESPONSE,
            ModuleBuffer::from(out),
        ) || envoy_dynamic_module_callback_http_append_body(
            filter,
            BODY_BUFFERED_RESPONSE,
            ModuleBuffer::from(out),
        )
    };
    if !ok {
        super::host::log(
            authgate::capabilities::LogLevel::Warn,
            "authgate: could not replace a list answer's body",
        );
    }
}

/// Carries out what the core said once the body was read.
fn carry_out(s: &Stream, filter: EnvoyPtr, step: Step) -> u32 {
    let status = match step {
        // The headers are stopped: going on from the body hook sends them (edited) with it.
        Step::Decided(d) => match apply(filter, d, false) {
            HEADERS_CONTINUE => BODY_CONTINUE,
            _ => BODY_STOP_ITERATION_NO_BUFFER,
        },
        Step::Held if s.hold() => BODY_STOP_ITERATION_AND_BUFFER,
        Step::Held => {
            fail_closed(filter, "Envoy gave no scheduler to wait with");
            BODY_STOP_ITERATION_NO_BUFFER
        }
        Step::ReadBody => {
            fail_closed(filter, "the body was asked for twice");
            BODY_STOP_ITERATION_NO_BUFFER
        }
        Step::Unconfigured => {
            fail_closed(filter, "the filter has no valid configuration");
            BODY_STOP_ITERATION_NO_BUFFER
        }
    };
    s.worker().flush_counters(&s.host());
    status
}

/// Runs a body hook; a panic fails the request closed.
fn body_hook(what: &str, filter: EnvoyPtr, f: impl FnOnce() -> u32) -> u32 {
    match guard(what, None, || Some(f())) {
        Some(status) => status,
        None => guard(what, BODY_STOP_ITERATION_NO_BUFFER, || {
            fail_closed(filter, "the filter failed");
            BODY_STOP_ITERATION_NO_BUFFER
        }),
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    filter: EnvoyPtr,
    module: ModulePtr,
    end_of_stream: bool,
) -> u32 {
    body_hook("request_body", filter, || {
        // SAFETY: the pointer filter_new returned.
        let Some(s) = (unsafe { stream(module) }) else {
            return BODY_CONTINUE;
        };
        if s.held.get() {
            return BODY_STOP_ITERATION_AND_BUFFER;
        }
        // Not once it was decided without it (the wait for it ran out).
        if !s.worker().reads_body(s.id) {
            return BODY_CONTINUE;
        }
        let too_large = size_of(filter, true) > authgate::mcp::jsonrpc::MAX_BODY;
        if !end_of_stream && !too_large {
            return BODY_STOP_ITERATION_AND_BUFFER;
        }
        let body = (!too_large).then(|| body_of(filter, true));
        let step = s.worker().on_request_body(&s.host(), s.id, body.as_deref());
        carry_out(s, filter, step)
    })
}

/// Trailers end a body that never said it ended (HTTP/2, gRPC-style clients): the body
/// Envoy buffered so far is the whole body, read as at its end.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    filter: EnvoyPtr,
    module: ModulePtr,
) -> u32 {
    body_hook("request_trailers", filter, || {
        // SAFETY: the pointer filter_new returned.
        let Some(s) = (unsafe { stream(module) }) else {
            return TRAILERS_CONTINUE;
        };
        if s.held.get() {
            return TRAILERS_STOP_ITERATION;
        }
        if !s.worker().reads_body(s.id) {
            return TRAILERS_CONTINUE;
        }
        let too_large = size_of(filter, true) > authgate::mcp::jsonrpc::MAX_BODY;
        let body = (!too_large).then(|| body_of(filter, true));
        let step = s.worker().on_request_body(&s.host(), s.id, body.as_deref());
        match carry_out(s, filter, step) {
            BODY_CONTINUE => TRAILERS_CONTINUE,
            _ => TRAILERS_STOP_ITERATION,
        }
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    filter: EnvoyPtr,
    module: ModulePtr,
    _end_of_stream: bool,
) -> u32 {
    guard("response_headers", HEADERS_CONTINUE, || {
        // SAFETY: the pointer filter_new returned.
        let Some(s) = (unsafe { stream(module) }) else {
            return HEADERS_CONTINUE;
        };
        for (name, value) in s.worker().answer_headers(s.id) {
            if !add_header(filter, HDR_RESPONSE, &name, &value) {
                super::host::log(
                    authgate::capabilities::LogLevel::Warn,
                    &format!("authgate: could not add {name} to an answer"),
                );
            }
        }
        if !s.worker().awaits_answer(s.id) {
            return HEADERS_CONTINUE;
        }
        let (ct, ce) = (
            header(filter, HDR_RESPONSE, "content-type"),
            header(filter, HDR_RESPONSE, "content-encoding"),
        );
        let answer = Answer {
            content_type: ct.as_deref(),
            content_encoding: ce.as_deref(),
            content_length: header(filter, HDR_RESPONSE, "content-length")
                .and_then(|n| n.trim().parse().ok()),
        };
        if s.worker().on_response_headers(&s.host(), s.id, answer) {
            s.watching.set(true);
            set_header(filter, HDR_RESPONSE, "content-length", None);
        }
        HEADERS_CONTINUE
    })
}

/// Carries out what the core said about an answer's body.
fn emit_body(s: &Stream, filter: EnvoyPtr, emit: Emit) -> u32 {
    match emit {
        Emit::Hold => BODY_STOP_ITERATION_AND_BUFFER,
        Emit::Pass => {
            s.watching.set(false);
            BODY_CONTINUE
        }
        Emit::Replace(out) => {
            replace_answer(filter, &out);
            BODY_CONTINUE
        }
    }
}

/// A JSON answer is held by Envoy until it is whole, and judged by its size until then; an
/// event stream passes event by event.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    filter: EnvoyPtr,
    module: ModulePtr,
    end_of_stream: bool,
) -> u32 {
    guard("response_body", BODY_CONTINUE, || {
        // SAFETY: the pointer filter_new returned.
        let Some(s) = (unsafe { stream(module) }) else {
            return BODY_CONTINUE;
        };
        if !s.watching.get() {
            return BODY_CONTINUE;
        }
        let host = s.host();
        if !end_of_stream && !s.worker().needs_bytes(s.id) {
            let size = size_of(filter, false);
            let emit = s.worker().on_response_progress(&host, s.id, size);
            return emit_body(s, filter, emit);
        }
        let body = body_of(filter, false);
        let emit = s
            .worker()
            .on_response_body(&host, s.id, &body, end_of_stream);
        s.watching.set(!end_of_stream);
        emit_body(s, filter, emit)
    })
}

/// A JSON answer Envoy holds is still in reach here: cut as at its end.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    filter: EnvoyPtr,
    module: ModulePtr,
) -> u32 {
    guard("response_trailers", TRAILERS_CONTINUE, || {
        // SAFETY: the pointer filter_new returned.
        let Some(s) = (unsafe { stream(module) }) else {
            return TRAILERS_CONTINUE;
        };
        if !s.watching.get() {
            return TRAILERS_CONTINUE;
        }
        s.watching.set(false);
        let held = (!s.worker().needs_bytes(s.id)).then(|| body_of(filter, false));
        let size = held.as_ref().map_or(0, Vec::len);
        let emit = s
            .worker()
            .on_response_trailers(&s.host(), s.id, held.as_deref());
        if let (Emit::Replace(out), true) = (emit, size > 0) {
            replace_answer(filter, &out);
        }
        TRAILERS_CONTINUE
    })
}
