//! The body and answer hooks, each handed to the core's driver: a request's body buffered by
//! Envoy until it is whole (or outgrows the limit) and read once, for rules with `match.mcp`;
//! trailers that end it; the answer's headers (a DPoP server nonce) and a list answer's body
//! cut to what the caller may call. A panic fails the request closed.

use super::abi::*;
use super::effects::{body_status, headers_status, trailers_status, Fx};
use super::filter::stream;
use super::reply::{fail_closed, guard};
use super::stream::Stream;

/// Runs a body or trailers hook on its stream (`none`: the status without one; `stop`: the
/// hook's status for stopping); a panic fails the request closed.
fn body_hook(
    what: &str,
    filter: EnvoyPtr,
    module: ModulePtr,
    (none, stop): (u32, u32),
    f: impl FnOnce(&Stream, &mut Fx) -> u32,
) -> u32 {
    let run = || {
        // SAFETY: the pointer filter_new returned.
        let Some(s) = (unsafe { stream(&module) }) else {
            return Some(none);
        };
        let mut fx = Fx {
            filter,
            stream: Some(s),
        };
        Some(f(s, &mut fx))
    };
    match guard(what, None, run) {
        Some(status) => status,
        None => guard(what, stop, || {
            fail_closed(filter, "the filter failed");
            stop
        }),
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    filter: EnvoyPtr,
    module: ModulePtr,
    end_of_stream: bool,
) -> u32 {
    let statuses = (BODY_CONTINUE, BODY_STOP_ITERATION_NO_BUFFER);
    body_hook("request_body", filter, module, statuses, |s, fx| {
        let flow = s
            .drive
            .request_body(s.worker(), &s.host(), end_of_stream, fx);
        body_status(flow)
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    filter: EnvoyPtr,
    module: ModulePtr,
) -> u32 {
    body_hook(
        "request_trailers",
        filter,
        module,
        (TRAILERS_CONTINUE, TRAILERS_STOP_ITERATION),
        |s, fx| trailers_status(s.drive.request_trailers(s.worker(), &s.host(), fx)),
    )
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    filter: EnvoyPtr,
    module: ModulePtr,
    _end_of_stream: bool,
) -> u32 {
    guard("response_headers", HEADERS_CONTINUE, || {
        // SAFETY: the pointer filter_new returned.
        let Some(s) = (unsafe { stream(&module) }) else {
            return HEADERS_CONTINUE;
        };
        let mut fx = Fx {
            filter,
            stream: Some(s),
        };
        headers_status(s.drive.response_headers(s.worker(), &s.host(), &mut fx))
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    filter: EnvoyPtr,
    module: ModulePtr,
    end_of_stream: bool,
) -> u32 {
    guard("response_body", BODY_CONTINUE, || {
        // SAFETY: the pointer filter_new returned.
        let Some(s) = (unsafe { stream(&module) }) else {
            return BODY_CONTINUE;
        };
        let mut fx = Fx {
            filter,
            stream: Some(s),
        };
        let flow = s
            .drive
            .response_body(s.worker(), &s.host(), end_of_stream, &mut fx);
        body_status(flow)
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    filter: EnvoyPtr,
    module: ModulePtr,
) -> u32 {
    guard("response_trailers", TRAILERS_CONTINUE, || {
        // SAFETY: the pointer filter_new returned.
        let Some(s) = (unsafe { stream(&module) }) else {
            return TRAILERS_CONTINUE;
        };
        let mut fx = Fx {
            filter,
            stream: Some(s),
        };
        trailers_status(s.drive.response_trailers(s.worker(), &s.host(), &mut fx))
    })
}
