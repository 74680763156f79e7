//! The core's `Host` over the dynamic-module ABI: Envoy's clock is the system's, shared data
//! is one in-process map with Envoy's compare-and-swap rules (the workers are threads of one
//! process), counters are the ones defined when the configuration was loaded, and per-request
//! facts (the client's address, its certificate) come from the stream being decided.

use super::abi::*;
use super::calls::{token, Calls};
use super::config::Config;
use super::envoy::{self, Outgoing};
use authgate::capabilities::memory::Locked;
use authgate::capabilities::{Callout, Host, LogLevel, Shared, SharedSetError};
use std::cell::RefCell;
use std::sync::OnceLock;

/// What every worker shares: what Envoy's shared data is to the wasm filter.
fn shared() -> &'static Locked {
    static SHARED: OnceLock<Locked> = OnceLock::new();
    SHARED.get_or_init(Locked::default)
}

/// Where the calls made during a hook go.
pub enum CallsTo<'a> {
    /// The stream's own (introspection and token requests made while deciding it): answered
    /// to it, gone with it. Envoy's callout id and the core's token of each.
    Stream(&'a RefCell<Vec<(u64, u32)>>),
    /// The worker's own (made by the tick): through the configuration, on the main thread.
    Worker(&'a Calls),
}

/// The host for one hook: the stream it is about (null on the main thread), the configuration
/// (its counters) and where calls go.
pub struct NativeHost<'a> {
    pub filter: EnvoyPtr,
    pub config: &'a Config,
    pub calls: CallsTo<'a>,
}

fn level(l: LogLevel) -> u32 {
    match l {
        LogLevel::Debug => LOG_DEBUG,
        LogLevel::Info => LOG_INFO,
        LogLevel::Warn => LOG_WARN,
        LogLevel::Error => LOG_ERROR,
    }
}

/// Writes a log line through Envoy's logger (component `dynamic_modules`).
pub fn log(l: LogLevel, line: &str) {
    envoy::log(level(l), line)
}

impl NativeHost<'_> {
    fn attribute(&self, id: u32) -> Option<String> {
        if self.filter.is_null() {
            return None;
        }
        envoy::attribute(self.filter, id)
    }
}

impl Host for NativeHost<'_> {
    fn signatures(&self) -> Option<std::rc::Rc<dyn authgate::crypto::HostSignatures>> {
        Some(std::rc::Rc::new(authgate_signatures::NativeSignatures))
    }

    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    fn shared_get(&self, key: &str) -> Option<Shared> {
        shared().get(key)
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedSetError> {
        shared().set(key, value, cas)
    }

    fn shared_add(&self, key: &str, value: &[u8]) -> Result<(), SharedSetError> {
        shared().add(key, value)
    }

    fn adds_atomically(&self) -> bool {
        true
    }

    fn dispatch(&self, call: &Callout) -> Result<u32, String> {
        let list = match self.calls {
            CallsTo::Worker(calls) => return calls.send(call),
            CallsTo::Stream(list) => list,
        };
        if self.filter.is_null() {
            return Err("no stream to call from".into());
        }
        let out = Outgoing {
            cluster: call.cluster,
            headers: &call.headers,
            body: call.body,
            timeout_ms: call.timeout_ms,
        };
        let id =
            envoy::stream_callout(self.filter, &out).map_err(|r| format!("callout result {r}"))?;
        let token = token();
        list.borrow_mut().push((id, token));
        Ok(token)
    }

    fn define_counter(&self, name: &str) -> Option<u32> {
        self.config
            .counters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id as u32)
    }

    fn increment_counter(&self, id: u32, by: u64) {
        if self.filter.is_null() {
            // The ABI counts only through a stream: the next stream's hook adds it.
            self.config.count_later(id as usize, by);
            return;
        }
        envoy::increment_counter(self.filter, id as usize, by);
    }

    /// The module ticks only inside requests: a quiet moment's counts would wait for the next.
    fn counts_each_decision(&self) -> bool {
        true
    }

    fn log_enabled(&self, l: LogLevel) -> bool {
        envoy::log_enabled(level(l))
    }

    fn log(&self, l: LogLevel, line: &str) {
        log(l, line);
    }

    fn client_address(&self) -> String {
        self.attribute(ATTR_SOURCE_ADDRESS).unwrap_or_default()
    }

    fn random_key(&self) -> [u8; 32] {
        let mut key = [0u8; 32];
        // A key for fingerprints and cache slots: the same on every worker comes from the
        // shared audit key; this one only starts a worker off.
        let _ = getrandom::fill(&mut key);
        key
    }

    fn random(&self) -> Option<authgate::capabilities::Random> {
        Some(std::rc::Rc::new(|out: &mut [u8]| {
            getrandom::fill(out).is_ok()
        }))
    }

    fn peer_certificate_sha256(&self) -> Option<String> {
        self.attribute(ATTR_CONNECTION_SHA256_PEER_CERT_DIGEST)
            .filter(|d| !d.is_empty())
    }

    fn connection_tls(&self) -> Option<bool> {
        Some(
            self.attribute(ATTR_CONNECTION_TLS_VERSION)
                .is_some_and(|v| !v.is_empty()),
        )
    }

    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}
