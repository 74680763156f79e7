//! The per-request context: hands the request headers (fetched in one host call) to the core
//! and carries out its decision — header edits and continue, a local reply, or a pause; reads
//! the body when the core asks for it, and passes a list answer's body through the core.

use authgate::engine::Decision;
use authgate::mcp::answer::Emit;
use authgate::reply::Reply;
use authgate::request::HeaderPairs;
use authgate::worker::{Answer, Step, Worker};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType, Status};
use std::rc::Rc;

use super::calls::HostCalls;
use super::maps;

#[link(wasm_import_module = "env")]
extern "C" {
    // The SDK's `resume_http_request` panics when the stream is gone; this returns the status.
    fn proxy_continue_stream(stream_type: u32) -> u32;
    // The SDK's `send_http_response`/`send_grpc_response` panic on a host error; this
    // returns the status.
    fn proxy_send_local_response(
        status_code: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
}

/// proxy-wasm's map encoding: the number of pairs, each pair's key and value sizes, then
/// each key and value followed by a NUL.
fn serialize(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// One request's context.
pub struct Filter {
    worker: Rc<Worker>,
    id: u32,
    /// The answer's body goes through the core.
    watching: bool,
}

impl Filter {
    pub fn new(worker: Rc<Worker>, id: u32) -> Self {
        Filter {
            worker,
            id,
            watching: false,
        }
    }

    /// Carries out what the core said after the headers or the body.
    fn carry_out(&mut self, step: Step, end_of_stream: bool) -> Action {
        match step {
            Step::Decided(decision) => apply(decision, false),
            Step::Held => Action::Pause,
            Step::ReadBody if end_of_stream => {
                let step = self.worker.on_request_body(&HostCalls, self.id, Some(&[]));
                self.carry_out(step, false)
            }
            // The worker keeps the request until its body comes (and asks only once).
            Step::ReadBody if self.worker.reads_body(self.id) => Action::Pause,
            Step::ReadBody => fail_closed("the body was asked for twice"),
            Step::Unconfigured => fail_closed("the filter has no valid configuration"),
        }
    }
}

impl Context for Filter {
    fn on_done(&mut self) -> bool {
        self.worker.on_request_done(&HostCalls, self.id);
        true
    }

    /// An introspection call made while this request's headers were decided is answered here
    /// (the SDK delivers an answer to the context that made the call).
    fn on_http_call_response(&mut self, token: u32, headers: usize, body_size: usize, _: usize) {
        super::call_response(&self.worker, (token, Some(self.id)), headers, body_size);
    }
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        // One host call for every header beats one per header (measured with
        // BENCH_VARIANTS: +19% requests/s on the API key path).
        let headers = match maps::pairs(MapType::HttpRequestHeaders) {
            Ok(pairs) => HeaderPairs(pairs),
            Err(_) => return fail_closed("could not read the request headers"),
        };
        #[cfg(feature = "test-trap")]
        if authgate::request::RequestView::header(&headers, ":path").as_deref()
            == Some("/__authgate_trap")
        {
            core::arch::wasm32::unreachable();
        }
        let step = self.worker.on_request_headers(&HostCalls, self.id, headers);
        self.carry_out(step, end_of_stream)
    }

    /// Buffered (Envoy holds it) until it ends or outgrows the limit, then read once. Envoy
    /// calls this after a paused header phase only with `allow_on_headers_stop_iteration`;
    /// then a request held for its decision must stay held: going on from here would let
    /// Envoy send the paused headers upstream.
    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        // Whether the worker still waits for the body: not once it was decided without it
        // (report mode, after the wait for it ran out), when the request went on.
        if !self.worker.reads_body(self.id) {
            return self.held_or_continue();
        }
        let too_large = body_size > authgate::mcp::jsonrpc::MAX_BODY;
        if !end_of_stream && !too_large {
            return Action::Pause;
        }
        let body = match too_large {
            true => None,
            false => match maps::buffer(BufferType::HttpRequestBody, 0, body_size) {
                Ok(b) => Some(b.unwrap_or_default()),
                Err(_) => return fail_closed("could not read the request body"),
            },
        };
        let step = self
            .worker
            .on_request_body(&HostCalls, self.id, body.as_deref());
        self.carry_out(step, false)
    }

    /// Trailers end a body that never said it ended (HTTP/2): what Envoy buffered is the
    /// whole body, read as at its end. A request held for its decision stays held: going on
    /// would send it upstream.
    fn on_http_request_trailers(&mut self, _trailers: usize) -> Action {
        if !self.worker.reads_body(self.id) {
            return self.held_or_continue();
        }
        let body = maps::buffer(BufferType::HttpRequestBody, 0, usize::MAX >> 1)
            .ok()
            .flatten()
            .unwrap_or_default();
        let body = (body.len() <= authgate::mcp::jsonrpc::MAX_BODY).then_some(body);
        let step = self
            .worker
            .on_request_body(&HostCalls, self.id, body.as_deref());
        self.carry_out(step, false)
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        for (name, value) in self.worker.answer_headers(self.id) {
            if maps::add(MapType::HttpResponseHeaders, &name, &value).is_err() {
                log::warn!("authgate: could not add {name} to an answer");
            }
        }
        if !self.worker.awaits_answer(self.id) {
            return Action::Continue;
        }
        let header = |n| {
            maps::get(MapType::HttpResponseHeaders, n)
                .ok()
                .flatten()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        let (ct, ce) = (header("content-type"), header("content-encoding"));
        let cl = header("content-length");
        let answer = Answer {
            content_type: ct.as_deref(),
            content_encoding: ce.as_deref(),
            content_length: cl.and_then(|n| n.trim().parse().ok()),
        };
        if self.worker.on_response_headers(&HostCalls, self.id, answer) {
            self.watching = true;
            let _ = maps::remove(MapType::HttpResponseHeaders, "content-length");
        }
        Action::Continue
    }

    /// A JSON answer is held by Envoy (Pause) until it is whole, so nothing is lost whatever
    /// happens, and judged by its size until then (no copy of what Envoy holds); an event
    /// stream passes event by event.
    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.watching {
            return Action::Continue;
        }
        if !end_of_stream && !self.worker.needs_bytes(self.id) {
            let emit = self
                .worker
                .on_response_progress(&HostCalls, self.id, body_size);
            return emit_body(emit, body_size, &mut self.watching);
        }
        let body = maps::buffer(BufferType::HttpResponseBody, 0, body_size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let emit = self
            .worker
            .on_response_body(&HostCalls, self.id, &body, end_of_stream);
        self.watching = !end_of_stream;
        emit_body(emit, body_size, &mut self.watching)
    }

    /// A JSON answer Envoy holds is still in reach here: cut as at its end. What an event
    /// stream still holds (the start of an event no blank line ended) cannot be sent, since
    /// trailers carry no body.
    fn on_http_response_trailers(&mut self, _trailers: usize) -> Action {
        if !self.watching {
            return Action::Continue;
        }
        self.watching = false;
        let held = match self.worker.needs_bytes(self.id) {
            true => None,
            false => maps::buffer(BufferType::HttpResponseBody, 0, usize::MAX >> 1)
                .ok()
                .flatten(),
        };
        let size = held.as_ref().map_or(0, Vec::len);
        let emit = self
            .worker
            .on_response_trailers(&HostCalls, self.id, held.as_deref());
        if let (Emit::Replace(out), true) = (emit, size > 0) {
            if maps::set_buffer(BufferType::HttpResponseBody, 0, size, &out).is_err() {
                log::warn!("authgate: could not replace a list answer's body");
            }
        }
        Action::Continue
    }
}

impl Filter {
    /// A request held for its decision stays paused whatever arrives; any other goes on.
    fn held_or_continue(&self) -> Action {
        match self.worker.holds(self.id) {
            true => Action::Pause,
            false => Action::Continue,
        }
    }
}

/// Carries out what the core said about an answer's body (`body_size`: what Envoy holds).
fn emit_body(emit: Emit, body_size: usize, watching: &mut bool) -> Action {
    match emit {
        Emit::Hold => Action::Pause,
        Emit::Pass => {
            *watching = false;
            Action::Continue
        }
        Emit::Replace(out) => {
            if maps::set_buffer(BufferType::HttpResponseBody, 0, body_size, &out).is_err() {
                log::warn!("authgate: could not replace a list answer's body");
            }
            Action::Continue
        }
    }
}

/// Carries out decisions on held requests, each in its own context; a request that is gone is
/// skipped.
pub fn resume_all(decided: Vec<(u32, Decision)>) {
    for (id, decision) in decided {
        if hostcalls::set_effective_context(id).is_ok() {
            apply(decision, true);
        }
    }
}

/// Carries out a decision on the current (effective) request; `resume` when it was held.
fn apply(decision: Decision, resume: bool) -> Action {
    match decision {
        Decision::Allow(allowed) => {
            let edits = allowed.edits;
            for name in &edits.remove {
                if maps::remove(MapType::HttpRequestHeaders, name).is_err() {
                    return fail_closed("could not remove a request header");
                }
            }
            for (name, value) in &edits.set {
                if maps::set(MapType::HttpRequestHeaders, name, value).is_err() {
                    return fail_closed("could not set a request header");
                }
            }
            if resume {
                // SAFETY: a plain host call with an integer argument.
                let status = unsafe { proxy_continue_stream(0) };
                if status != Status::Ok as u32 {
                    log::debug!("authgate: a held request could not be resumed ({status})");
                }
            }
            Action::Continue
        }
        Decision::Deny(denied) => send(&denied.reply),
        Decision::Answer(reply) => send(&reply),
        // Not reached: the worker holds a waiting request rather than returning it.
        Decision::Wait(_) => fail_closed("a request was held twice"),
        // Not reached: the worker turns it into a step.
        Decision::ReadBody => fail_closed("a held request asked for its body"),
    }
}

/// Sends a local reply; the request stops here. A gRPC answer goes with its status (the
/// headers are its metadata, the message Envoy's `grpc-message`).
fn send(r: &Reply) -> Action {
    let (status, body, grpc_status) = match &r.grpc {
        Some(g) => (200, g.message.as_bytes(), g.code as i32),
        None => (u32::from(r.status), r.body.as_bytes(), -1),
    };
    let headers = serialize(&r.headers);
    // SAFETY: pointers and sizes of live buffers, for the duration of the call.
    let result = unsafe {
        proxy_send_local_response(
            status,
            core::ptr::null(),
            0,
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            grpc_status,
        )
    };
    if result != Status::Ok as u32 {
        log::error!("authgate: could not send the local reply: {result}");
    }
    Action::Pause
}

/// Answers 500 (gRPC: INTERNAL) and stops the request: used when the filter cannot do its job.
/// Whether the request is a gRPC call is read here, on this rare path, not on every request.
fn fail_closed(why: &str) -> Action {
    log::error!("authgate: refusing request: {why}");
    let content_type = maps::get(MapType::HttpRequestHeaders, "content-type")
        .ok()
        .flatten()
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    send(&authgate::reply::internal_error(authgate::reply::is_grpc(
        content_type.as_deref(),
    )))
}
