//! The configuration's hooks, on Envoy's main thread: the module's start, a configuration
//! compiled once when Envoy loads it (a refusal fails the filter's creation with the wasm
//! filter's own line), its counters defined, and its own calls sent and answered.

use super::abi::*;
use super::calls::{Calls, EVENT_TICK};
use super::envoy::answer_of;
use super::host::log;
use super::reply::guard;
use super::stream::service_main;
use authgate::capabilities::{Host, LogLevel};
use authgate::engine::Engine;
use authgate_signatures::NativeSignatures;
use std::os::raw::c_char;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A configuration Envoy loaded: its JSON, a generation number (a worker configures itself
/// again when it sees a new one), the counters defined for it and its calls.
pub struct Config {
    pub json: Vec<u8>,
    pub generation: u64,
    pub counters: Vec<(String, usize)>,
    /// Counts made off a stream (the main thread's worker), beside `counters`, until a stream's
    /// hook adds them.
    later: Vec<AtomicU64>,
    any_later: AtomicBool,
    pub calls: Arc<Calls>,
    /// One audit-line limit for every worker (the main thread's tick writes the summary).
    pub audit: Arc<authgate::audit::AuditLimiter>,
}

impl Config {
    /// Keeps `by` for counter `id` until a stream can add it.
    pub fn count_later(&self, id: usize, by: u64) {
        if let Some(i) = self.counters.iter().position(|(_, c)| *c == id) {
            self.later[i].fetch_add(by, Ordering::Relaxed);
            self.any_later.store(true, Ordering::Release);
        }
    }

    /// Adds the counts kept for later, through the stream `host` is for.
    pub fn add_counted_later(&self, host: &dyn Host) {
        // A load first: every request asks, and a swap would write the line every worker reads.
        if !self.any_later.load(Ordering::Relaxed) || !self.any_later.swap(false, Ordering::Acquire)
        {
            return;
        }
        for (i, n) in self.later.iter().enumerate() {
            let by = n.swap(0, Ordering::Relaxed);
            if by > 0 {
                host.increment_counter(self.counters[i].1 as u32, by);
            }
        }
    }
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The ABI this module was built for.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    guard("program_init", std::ptr::null(), || {
        // Envoy refuses a module whose init returns null.
        if let Some(why) = super::abi_check::refusal() {
            log(LogLevel::Error, &why);
            return std::ptr::null();
        }
        log(
            LogLevel::Info,
            "authgate: native module built for the dynamic-module ABI v0.2.0 (Envoy 1.40), whose callbacks it calls this Envoy exports",
        );
        abi_version_ptr()
    })
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
        let engine = match Engine::from_json_with(
            &json,
            [0; 32],
            Some(Rc::new(NativeSignatures)),
            &env,
            Some(Rc::new(|out: &mut [u8]| getrandom::fill(out).is_ok())),
        ) {
            Ok(e) => e,
            Err(e) => {
                log(LogLevel::Error, &e.to_string());
                return std::ptr::null();
            }
        };
        // Counters can only be defined now: every name the configuration's catalogue has.
        let catalog = authgate::metrics::Catalog::new(engine.config());
        let mut counters = Vec::new();
        for name in catalog.names() {
            if let Some(id) = super::envoy::define_counter(config_envoy, name) {
                counters.push((name.clone(), id));
            }
        }
        let c = Arc::new(Config {
            json,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            later: counters.iter().map(|_| AtomicU64::new(0)).collect(),
            any_later: AtomicBool::new(false),
            counters,
            calls: Calls::new(config_envoy),
            audit: Arc::default(),
        });
        Arc::into_raw(c) as ModulePtr
    })
}

/// The configuration behind `config`, borrowed no longer than the hook's own argument.
///
/// # Safety
/// `config` is a pointer config_new returned, not yet destroyed.
unsafe fn config_of(config: &ModulePtr) -> Option<&Config> {
    // SAFETY: the caller's promise: an `Arc<Config>` config_new gave Envoy, still alive.
    unsafe { (*config as *const Config).as_ref() }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: ModulePtr) {
    guard("config_destroy", (), || {
        if !config.is_null() {
            // SAFETY: the pointer config_new made from an Arc, given back once.
            let c = unsafe { Arc::from_raw(config as *const Config) };
            c.calls.close();
        }
    })
}

/// A worker queued calls of its own (send them), or the tick (the main thread's worker ticks).
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    _config_envoy: EnvoyPtr,
    config: ModulePtr,
    event_id: u64,
) {
    guard("config_scheduled", (), || {
        // SAFETY: the pointer config_new returned.
        let Some(c) = (unsafe { config_of(&config) }) else {
            return;
        };
        match event_id {
            EVENT_TICK => service_main(c),
            _ => c.calls.send_queued(),
        }
    })
}

/// The answer to one of those calls: mail for the worker that made it.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
    _config_envoy: EnvoyPtr,
    config: ModulePtr,
    callout_id: u64,
    result: u32,
    headers: *const EnvoyHttpHeader,
    headers_len: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_len: usize,
) {
    guard("config_http_callout_done", (), || {
        // SAFETY: the pointer config_new returned.
        let Some(c) = (unsafe { config_of(&config) }) else {
            return;
        };
        // SAFETY: Envoy's arrays, valid during this hook.
        let (status, body) = unsafe {
            answer_of(
                result,
                (headers, headers_len),
                (body_chunks, body_chunks_len),
            )
        };
        if c.calls.answered(callout_id, status, body) {
            service_main(c);
        }
    })
}
