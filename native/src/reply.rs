//! What goes back to Envoy for a stream: a decision carried out (header edits and going on, or
//! a local reply), the 500 (gRPC: INTERNAL) of failing closed, and the guard that turns a panic
//! in a hook into that answer instead of unwinding into Envoy.

use super::abi::*;
use super::envoy::{header, module_headers, set_header};
use super::host::log;
use authgate::capabilities::LogLevel;
use authgate::engine::Decision;
use authgate::reply::Reply;
use authgate::request::HeaderPairs;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs a hook's body; a panic is logged and `fallback` returned.
pub fn guard<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            log(
                LogLevel::Error,
                &format!("authgate: a panic in {what}; failing closed"),
            );
            fallback
        }
    }
}

/// Every request header, in one call.
pub fn request_headers_of(filter: EnvoyPtr) -> HeaderPairs {
    // SAFETY: the stream's pointer during its hook; the array sized as Envoy said.
    let n = unsafe { envoy_dynamic_module_callback_http_get_headers_size(filter, HDR_REQUEST) };
    let mut raw = vec![
        EnvoyHttpHeader {
            key_ptr: std::ptr::null(),
            key_len: 0,
            value_ptr: std::ptr::null(),
            value_len: 0,
        };
        n
    ];
    if n == 0
        // SAFETY: the stream's pointer during its hook; `raw` holds the `n` entries Envoy said.
        || !unsafe {
            envoy_dynamic_module_callback_http_get_headers(filter, HDR_REQUEST, raw.as_mut_ptr())
        }
    {
        return HeaderPairs(Vec::new());
    }
    let bytes = |p: *const u8, len: usize| {
        if p.is_null() || len == 0 {
            Vec::new()
        } else {
            // SAFETY: Envoy's memory, valid during the hook.
            unsafe { std::slice::from_raw_parts(p, len) }.to_vec()
        }
    };
    HeaderPairs(
        raw.iter()
            .map(|h| {
                (
                    String::from_utf8_lossy(&bytes(h.key_ptr, h.key_len)).into_owned(),
                    bytes(h.value_ptr, h.value_len),
                )
            })
            .collect(),
    )
}

fn send(filter: EnvoyPtr, r: &Reply) {
    let code;
    let mut pairs: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, body) = match &r.grpc {
        // A trailers-only gRPC answer, as Envoy's own gRPC local replies are.
        Some(g) => {
            code = g.code.to_string();
            pairs.retain(|(k, _)| *k != "content-type");
            pairs.extend([
                ("content-type", "application/grpc"),
                ("grpc-status", code.as_str()),
                ("grpc-message", g.message.as_str()),
            ]);
            (200, &[][..])
        }
        None => (u32::from(r.status), r.body.as_bytes()),
    };
    let mut raw = module_headers(&pairs);
    // SAFETY: our buffers, valid for the call.
    unsafe {
        envoy_dynamic_module_callback_http_send_response(
            filter,
            status,
            raw.as_mut_ptr(),
            raw.len(),
            ModuleBuffer::from(body),
            ModuleBuffer::from(b"authgate"),
        );
    }
}

/// Answers 500 (gRPC: INTERNAL) when the filter cannot do its job.
pub fn fail_closed(filter: EnvoyPtr, why: &str) -> u32 {
    log(
        LogLevel::Error,
        &format!("authgate: refusing request: {why}"),
    );
    let grpc = authgate::reply::is_grpc(header(filter, HDR_REQUEST, "content-type").as_deref());
    send(filter, &authgate::reply::internal_error(grpc));
    HEADERS_STOP_ITERATION
}

/// Carries out `decision`; `resume` when the request was held (its headers stopped), so going
/// on is asked of Envoy rather than returned.
pub fn apply(filter: EnvoyPtr, decision: Decision, resume: bool) -> u32 {
    match decision {
        Decision::Allow(a) => {
            for name in &a.edits.remove {
                if !set_header(filter, HDR_REQUEST, name, None) {
                    return fail_closed(filter, "could not remove a request header");
                }
            }
            for (name, value) in &a.edits.set {
                if !set_header(filter, HDR_REQUEST, name, Some(value)) {
                    return fail_closed(filter, "could not set a request header");
                }
            }
            if resume {
                // SAFETY: the stream's pointer during one of its hooks.
                unsafe { envoy_dynamic_module_callback_http_filter_continue_decoding(filter) };
            }
            HEADERS_CONTINUE
        }
        Decision::Deny(d) => {
            send(filter, &d.reply);
            HEADERS_STOP_ITERATION
        }
        Decision::Answer(r) => {
            send(filter, &r);
            HEADERS_STOP_ITERATION
        }
        // Not reached: the worker holds a waiting request rather than returning it.
        Decision::Wait(_) => fail_closed(filter, "a request was held twice"),
        // Not reached: the worker turns it into a step.
        Decision::ReadBody => fail_closed(filter, "a held request asked for its body"),
    }
}
