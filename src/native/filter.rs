//! The hooks Envoy calls (every one the ABI requires), each wrapped so that a panic never
//! unwinds into Envoy: a request whose hook panicked is answered 500 (gRPC: INTERNAL) and goes
//! no further. A configuration is compiled once when Envoy loads it (a refusal fails the
//! filter's creation with the wasm filter's own line); each worker thread keeps its own
//! `Worker` for it, as each wasm VM does.

use super::abi::*;
use super::host::{log, NativeHost};
use crate::capabilities::LogLevel;
use crate::engine::{Decision, Engine};
use crate::reply::Reply;
use crate::request::HeaderPairs;
use crate::worker::{Step, Worker};
use std::cell::{Cell, RefCell};
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A configuration Envoy loaded: its JSON, a generation number (a worker configures itself
/// again when it sees a new one) and the counters defined for it.
struct Config {
    json: Vec<u8>,
    generation: u64,
    counters: Vec<(String, usize)>,
}

/// One stream.
struct Stream {
    config: Arc<Config>,
    worker: Rc<Worker>,
    id: u32,
}

thread_local! {
    /// This worker thread's workers, by configuration generation (newest last).
    static WORKERS: RefCell<Vec<(u64, Rc<Worker>)>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u32> = const { Cell::new(1) };
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

fn guard<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
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

/// The ABI this module was built for.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    guard("program_init", std::ptr::null(), || {
        log(
            LogLevel::Info,
            "authgate: native module built for the dynamic-module ABI v0.2.0 (Envoy 1.40)",
        );
        abi_version_ptr()
    })
}

/// What a configuration needs that the native module does not do yet.
fn unsupported(engine: &Engine) -> Option<String> {
    let c = engine.config();
    for p in &c.providers {
        let remote = p.check.remote_jwks().is_some()
            || p.check.introspection().is_some()
            || p.check.sign_in().is_some();
        if remote {
            return Some(format!(
                "providers.{}: needs calls out of Envoy (a remote key set, introspection or sign-in), which the native module does not make yet; use the wasm filter for it",
                p.name
            ));
        }
    }
    if let Some(r) = c.rules.iter().find(|r| r.mcp.is_some()) {
        return Some(format!(
            "{}.match.mcp: reads request bodies, which the native module does not yet; use the wasm filter for it",
            r.label
        ));
    }
    None
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    config_envoy: EnvoyPtr,
    _name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> ModulePtr {
    guard("config_new", std::ptr::null(), || {
        // SAFETY: Envoy's buffer, read before this hook returns.
        let json = unsafe { config.as_bytes() }.to_vec();
        let env = |name: &str| std::env::var(name).ok();
        let engine = match Engine::from_json_with(&json, [0; 32], None, &env, None) {
            Ok(e) => e,
            Err(e) => {
                log(LogLevel::Error, &e.to_string());
                return std::ptr::null();
            }
        };
        if let Some(why) = unsupported(&engine) {
            log(
                LogLevel::Error,
                &format!("authgate: invalid configuration: {why}"),
            );
            return std::ptr::null();
        }
        // Counters can only be defined now: every name the configuration's catalogue has.
        let catalog = crate::metrics::Catalog::new(engine.config());
        let mut counters = Vec::new();
        for name in catalog.names() {
            let mut id = 0usize;
            // SAFETY: Envoy's config pointer during its hook; our name buffer; no labels.
            let r = unsafe {
                envoy_dynamic_module_callback_http_filter_config_define_counter(
                    config_envoy,
                    ModuleBuffer::from(name.as_bytes()),
                    std::ptr::null_mut(),
                    0,
                    &mut id,
                )
            };
            if r == METRICS_SUCCESS {
                counters.push((name.clone(), id));
            }
        }
        let c = Arc::new(Config {
            json,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            counters,
        });
        Arc::into_raw(c) as ModulePtr
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: ModulePtr) {
    guard("config_destroy", (), || {
        if !config.is_null() {
            // SAFETY: the pointer config_new made from an Arc, given back once.
            drop(unsafe { Arc::from_raw(config as *const Config) });
        }
    })
}

/// This thread's worker for `config`, configured on first use.
fn worker_for(config: &Config, host: &NativeHost) -> Option<Rc<Worker>> {
    WORKERS.with(|w| {
        let mut w = w.borrow_mut();
        if let Some((_, worker)) = w.iter().find(|(g, _)| *g == config.generation) {
            return Some(worker.clone());
        }
        let worker = Rc::new(Worker::default());
        worker.configure(host, &config.json)?;
        // A configuration replaced keeps serving its streams; older ones go.
        if w.len() >= 4 {
            w.remove(0);
        }
        w.push((config.generation, worker.clone()));
        Some(worker)
    })
}

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
        let host = NativeHost {
            filter,
            counters: &config.counters,
        };
        let Some(worker) = worker_for(&config, &host) else {
            return std::ptr::null();
        };
        let id = NEXT_ID.with(|n| {
            let id = n.get();
            n.set(id.wrapping_add(1).max(1));
            id
        });
        Box::into_raw(Box::new(Stream { config, worker, id })) as ModulePtr
    })
}

/// The stream behind `module`.
///
/// SAFETY: `module` is a pointer filter_new returned, not yet destroyed.
unsafe fn stream<'a>(module: ModulePtr) -> Option<&'a Stream> {
    (module as *const Stream).as_ref()
}

/// Every request header, in one call.
fn request_headers_of(filter: EnvoyPtr) -> HeaderPairs {
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
    // SAFETY: as above.
    if n == 0
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
    let mut headers: Vec<(String, String)> = r.headers.clone();
    let (status, body) = match &r.grpc {
        // A trailers-only gRPC answer, as Envoy's own gRPC local replies are.
        Some(g) => {
            headers.retain(|(k, _)| k != "content-type");
            headers.push(("content-type".into(), "application/grpc".into()));
            headers.push(("grpc-status".into(), g.code.to_string()));
            headers.push(("grpc-message".into(), g.message.clone()));
            (200, &[][..])
        }
        None => (u32::from(r.status), r.body.as_bytes()),
    };
    let mut raw: Vec<ModuleHttpHeader> = headers
        .iter()
        .map(|(k, v)| ModuleHttpHeader::new(k.as_bytes(), v.as_bytes()))
        .collect();
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
fn fail_closed(filter: EnvoyPtr, why: &str) -> u32 {
    log(
        LogLevel::Error,
        &format!("authgate: refusing request: {why}"),
    );
    let mut ct = EnvoyBuffer::NULL;
    // SAFETY: the stream's pointer during its hook.
    let grpc = unsafe {
        envoy_dynamic_module_callback_http_get_header(
            filter,
            HDR_REQUEST,
            ModuleBuffer::from(b"content-type"),
            &mut ct,
            0,
            std::ptr::null_mut(),
        )
    } && crate::reply::is_grpc(Some(&String::from_utf8_lossy(unsafe { ct.as_bytes() })));
    send(filter, &crate::reply::internal_error(grpc));
    HEADERS_STOP_ITERATION
}

fn apply(filter: EnvoyPtr, decision: Decision) -> u32 {
    match decision {
        Decision::Allow(a) => {
            for name in &a.edits.remove {
                // SAFETY: the stream's pointer; a null value removes the header.
                let ok = unsafe {
                    envoy_dynamic_module_callback_http_set_header(
                        filter,
                        HDR_REQUEST,
                        ModuleBuffer::from(name.as_bytes()),
                        ModuleBuffer::NULL,
                    )
                };
                if !ok {
                    return fail_closed(filter, "could not remove a request header");
                }
            }
            for (name, value) in &a.edits.set {
                // SAFETY: as above.
                let ok = unsafe {
                    envoy_dynamic_module_callback_http_set_header(
                        filter,
                        HDR_REQUEST,
                        ModuleBuffer::from(name.as_bytes()),
                        ModuleBuffer::from(value.as_bytes()),
                    )
                };
                if !ok {
                    return fail_closed(filter, "could not set a request header");
                }
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
        Decision::Wait(_) | Decision::ReadBody => {
            fail_closed(filter, "a wait the native module cannot serve yet")
        }
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter: EnvoyPtr,
    module: ModulePtr,
    _end_of_stream: bool,
) -> u32 {
    let decided = guard("request_headers", None, || {
        // SAFETY: the pointer filter_new returned.
        let s = unsafe { stream(module) }?;
        let host = NativeHost {
            filter,
            counters: &s.config.counters,
        };
        let step = s
            .worker
            .on_request_headers(&host, s.id, request_headers_of(filter));
        let status = match step {
            Step::Decided(d) => apply(filter, d),
            Step::Held | Step::ReadBody => {
                fail_closed(filter, "a wait the native module cannot serve yet")
            }
            Step::Unconfigured => fail_closed(filter, "the filter has no valid configuration"),
        };
        s.worker.flush_counters(&host);
        Some(status)
    });
    match decided {
        Some(status) => status,
        None => guard(
            "request_headers (failing closed)",
            HEADERS_STOP_ITERATION,
            || fail_closed(filter, "the filter failed"),
        ),
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    _filter: EnvoyPtr,
    _module: ModulePtr,
    _end_of_stream: bool,
) -> u32 {
    BODY_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    _filter: EnvoyPtr,
    _module: ModulePtr,
) -> u32 {
    TRAILERS_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    _filter: EnvoyPtr,
    _module: ModulePtr,
    _end_of_stream: bool,
) -> u32 {
    HEADERS_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    _filter: EnvoyPtr,
    _module: ModulePtr,
    _end_of_stream: bool,
) -> u32 {
    BODY_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    _filter: EnvoyPtr,
    _module: ModulePtr,
) -> u32 {
    TRAILERS_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    filter: EnvoyPtr,
    module: ModulePtr,
) {
    guard("stream_complete", (), || {
        // SAFETY: the pointer filter_new returned.
        if let Some(s) = unsafe { stream(module) } {
            let host = NativeHost {
                filter,
                counters: &s.config.counters,
            };
            s.worker.on_request_done(&host, s.id);
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

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    _filter: EnvoyPtr,
    _module: ModulePtr,
    _callout_id: u64,
    _result: u32,
    _headers: *const EnvoyHttpHeader,
    _headers_len: usize,
    _body_chunks: *const EnvoyBuffer,
    _body_chunks_len: usize,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    _filter: EnvoyPtr,
    _module: ModulePtr,
    _event_id: u64,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _filter: EnvoyPtr,
    _module: ModulePtr,
    _stream_id: u64,
    _headers: *const EnvoyHttpHeader,
    _n: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    _filter: EnvoyPtr,
    _module: ModulePtr,
    _stream_id: u64,
    _data: *const EnvoyBuffer,
    _n: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    _filter: EnvoyPtr,
    _module: ModulePtr,
    _stream_id: u64,
    _trailers: *const EnvoyHttpHeader,
    _n: usize,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    _filter: EnvoyPtr,
    _module: ModulePtr,
    _stream_id: u64,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    _filter: EnvoyPtr,
    _module: ModulePtr,
    _stream_id: u64,
    _reason: u32,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    _filter: EnvoyPtr,
    _module: ModulePtr,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    _filter: EnvoyPtr,
    _module: ModulePtr,
) {
}
