//! The core's `Host` for the service: the system's clock, shared data in one in-process map with
//! Envoy's compare-and-swap rules (the service's worker threads are what Envoy's workers are to
//! the filter), counters kept for `/metrics`, log lines on standard output, and the facts of the
//! check being decided (the client's address, its certificate) as Envoy sent them.

use authgate::capabilities::memory::Locked;
use authgate::capabilities::{Callout, Host, LogLevel, Random, Shared, SharedSetError};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};

/// What every worker thread shares: what Envoy's shared data is to the wasm filter.
fn shared() -> &'static Locked {
    static SHARED: OnceLock<Locked> = OnceLock::new();
    SHARED.get_or_init(Locked::default)
}

/// The service's counters, by the filter's names, for `/metrics`.
#[derive(Default)]
pub struct Counters(Mutex<Vec<(String, u64)>>);

impl Counters {
    fn define(&self, name: &str) -> u32 {
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match c.iter().position(|(n, _)| n == name) {
            Some(i) => i as u32,
            None => {
                c.push((name.to_string(), 0));
                (c.len() - 1) as u32
            }
        }
    }

    fn add(&self, id: u32, by: u64) {
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, n)) = c.get_mut(id as usize) {
            *n += by;
        }
    }

    /// Prometheus' text format: each counter under the filter's name with `.` as `_`.
    pub fn prometheus(&self) -> String {
        let c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, n) in c.iter() {
            let name: String = name
                .chars()
                .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
                .collect();
            out.push_str(&format!("# TYPE {name} counter\n{name} {n}\n"));
        }
        out
    }
}

/// Writes a log line on standard output (audit lines are log lines: a log pipeline reads them
/// there, as from Envoy's).
pub fn log(level: LogLevel, line: &str) {
    let level = match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warning",
        LogLevel::Error => "error",
    };
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "[{level}] {line}");
}

/// The host for one worker thread; the check being decided sets its facts.
pub struct ServiceHost {
    pub counters: Arc<Counters>,
    pub debug: bool,
    /// The check's client (`ip:port`).
    pub client: RefCell<String>,
    /// The SHA-256 (hex) of the check's client certificate, when Envoy sent one.
    pub peer: RefCell<Option<String>>,
    /// Whether the check's downstream connection is TLS, when Envoy said.
    pub tls: RefCell<Option<bool>>,
}

impl Host for ServiceHost {
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

    /// Remote conversations (key sets, discovery, introspection, the token endpoint) are not
    /// made by the service yet: a provider that needs one answers as it does when its server
    /// does not answer (401 for keys it cannot get, 503 for an unreachable introspection or
    /// token endpoint). docs/service.md says so.
    fn dispatch(&self, call: &Callout) -> Result<u32, String> {
        Err(format!(
            "the ext_authz service does not call cluster {} (its remote calls are not built yet)",
            call.cluster
        ))
    }

    fn define_counter(&self, name: &str) -> Option<u32> {
        Some(self.counters.define(name))
    }

    fn increment_counter(&self, id: u32, by: u64) {
        self.counters.add(id, by);
    }

    fn log_enabled(&self, level: LogLevel) -> bool {
        self.debug || level != LogLevel::Debug
    }

    fn log(&self, level: LogLevel, line: &str) {
        log(level, line);
    }

    fn client_address(&self) -> String {
        self.client.borrow().clone()
    }

    fn random_key(&self) -> [u8; 32] {
        let mut key = [0u8; 32];
        let _ = getrandom::fill(&mut key);
        key
    }

    fn random(&self) -> Option<Random> {
        Some(Rc::new(|out: &mut [u8]| getrandom::fill(out).is_ok()))
    }

    fn peer_certificate_sha256(&self) -> Option<String> {
        self.peer.borrow().clone()
    }

    fn connection_tls(&self) -> Option<bool> {
        *self.tls.borrow()
    }

    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}
