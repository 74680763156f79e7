//! The guard that turns a panic in a hook into the 500 (gRPC: INTERNAL) of failing closed
//! instead of unwinding into Envoy, and the request headers handed to the core.

use super::abi::*;
use super::effects::Fx;
use super::host::log;
use authgate::capabilities::LogLevel;
use authgate::driver;
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

/// Answers 500 (gRPC: INTERNAL) when the filter cannot do its job (a panic in a hook).
pub fn fail_closed(filter: EnvoyPtr, why: &str) -> u32 {
    let mut fx = Fx {
        filter,
        stream: None,
    };
    driver::fail_closed(&mut fx, why);
    HEADERS_STOP_ITERATION
}
