//! A stream's hooks: its creation on a worker thread, its request headers decided (or held
//! until what its provider needs arrives, or stopped until its body is read: `bodies.rs`), the
//! answers to its calls, its wake-ups, and its end. Each is guarded: a panic answers 500
//! (gRPC: INTERNAL) and the request goes no further.

use super::abi::*;
use super::config::Config;
use super::effects::{headers_status, Fx};
use super::envoy::answer_of;
use super::reply::{fail_closed, guard, request_headers_of};
use super::stream::Stream;
use std::sync::Arc;

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config: ModulePtr,
    filter: EnvoyPtr,
) -> ModulePtr {
    guard("filter_new", std::ptr::null(), || {
        if config.is_null() {
            return std::ptr::null();
        }
        // SAFETY: Envoy keeps the configuration alive while its filters live; the Arc is
        // cloned, not taken.
        let config = unsafe {
            Arc::increment_strong_count(config as *const Config);
            Arc::from_raw(config as *const Config)
        };
        match Stream::open(config, filter) {
            Some(s) => Box::into_raw(s) as ModulePtr,
            None => std::ptr::null(),
        }
    })
}

/// The stream behind `module`, borrowed no longer than the hook's own argument (a caller
/// cannot keep it past the hook).
///
/// # Safety
/// `module` is a pointer filter_new returned, not yet destroyed.
pub unsafe fn stream(module: &ModulePtr) -> Option<&Stream> {
    // SAFETY: the caller's promise: a `Box<Stream>` filter_new gave Envoy, still alive.
    unsafe { (*module as *const Stream).as_ref() }
}

/// Runs a stream hook that may carry out a decision; a panic fails the request closed.
fn decide(what: &str, filter: EnvoyPtr, f: impl FnOnce() -> Option<u32>) -> u32 {
    match guard(what, None, f) {
        Some(status) => status,
        None => guard(what, HEADERS_STOP_ITERATION, || {
            fail_closed(filter, "the filter failed")
        }),
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter: EnvoyPtr,
    module: ModulePtr,
    end_of_stream: bool,
) -> u32 {
    decide("request_headers", filter, || {
        // SAFETY: the pointer filter_new returned.
        let s = unsafe { stream(&module) }?;
        s.service();
        let host = s.host();
        let headers = request_headers_of(filter);
        // A test-only build panics on one path, to show a panic fails the request closed.
        #[cfg(feature = "test-trap")]
        #[allow(clippy::panic)]
        if authgate::request::RequestView::header(&headers, ":path").as_deref()
            == Some("/__authgate_trap")
        {
            panic!("authgate: the test trap");
        }
        let mut fx = Fx {
            filter,
            stream: Some(s),
        };
        let flow = s
            .drive
            .request_headers(s.worker(), &host, headers, end_of_stream, &mut fx);
        Some(headers_status(flow))
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    filter: EnvoyPtr,
    module: ModulePtr,
    _event_id: u64,
) {
    decide("scheduled", filter, || {
        // SAFETY: the pointer filter_new returned.
        let s = unsafe { stream(&module) }?;
        s.service();
        s.resume(filter);
        Some(0)
    });
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    filter: EnvoyPtr,
    module: ModulePtr,
    callout_id: u64,
    result: u32,
    headers: *const EnvoyHttpHeader,
    headers_len: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_len: usize,
) {
    decide("http_callout_done", filter, || {
        // SAFETY: the pointer filter_new returned.
        let s = unsafe { stream(&module) }?;
        // SAFETY: Envoy's arrays, valid during this hook.
        let (status, body) = unsafe {
            answer_of(
                result,
                (headers, headers_len),
                (body_chunks, body_chunks_len),
            )
        };
        s.answered(callout_id, status.as_deref(), &body);
        s.resume(filter);
        Some(0)
    });
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _filter: EnvoyPtr,
    module: ModulePtr,
) {
    guard("stream_complete", (), || {
        // SAFETY: the pointer filter_new returned.
        if let Some(s) = unsafe { stream(&module) } {
            s.drive.done(s.worker(), &s.host());
            s.unhook();
        }
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(module: ModulePtr) {
    guard("filter_destroy", (), || {
        if !module.is_null() {
            // SAFETY: the Box filter_new made, given back once.
            drop(unsafe { Box::from_raw(module as *mut Stream) });
        }
    })
}
