//! The dynamic-module adapter: authgate as a native Envoy filter
//! (`envoy.filters.http.dynamic_modules`, ABI v0.2.0 of Envoy 1.40), over the same core as the
//! wasm filter. As `src/host/` does for proxy-wasm, it only translates: ABI hooks in, calls of
//! the core's [`crate::worker::Worker`] (one per Envoy worker thread), decisions out.
//! [`host`] implements the core's `Host` over the ABI; [`filter`] holds the exported hooks.
//!
//! This first step serves configurations whose checks need no call out of Envoy (`basic`,
//! `api_key`, `jwt` with `local_jwks`); one that needs a remote key set, an introspection
//! endpoint, a sign-in or a body (`match.mcp`) is refused when Envoy loads it, with one line
//! that says so, rather than served half.

#![allow(unsafe_code)]

mod abi;
mod filter;
mod host;
