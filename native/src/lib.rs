//! authgate as an Envoy dynamic module (`dist/libauthgate.so`): a native Envoy filter
//! (`envoy.filters.http.dynamic_modules`, ABI v0.2.0 of Envoy 1.40), over the same core as the
//! wasm filter. As the wasm crate does for proxy-wasm, it only translates: ABI hooks in, the
//! core's driver ([`authgate::driver`]) and worker (one per configuration per Envoy worker
//! thread), effects out. [`envoy`] is the one module that calls the ABI; [`effects`] carries out
//! the driver's effects with it, [`host`] implements the core's `Host`; [`config`] holds the
//! configuration's hooks (main thread), [`filter`] and [`bodies`] a stream's, [`stream`] what a
//! worker thread keeps, [`calls`] the calls a worker makes on its own behalf and the tick,
//! [`reply`] the guard that answers a panic with a 500.

#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod abi;
mod abi_check;
mod bodies;
mod calls;
mod config;
mod effects;
mod envoy;
mod filter;
mod host;
mod idle;
mod reply;
mod stream;
