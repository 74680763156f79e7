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
    HeaderPairs(super::envoy::request_headers(filter))
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
