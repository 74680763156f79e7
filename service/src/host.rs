//! The core's `Host` for the service: the system's clock, shared data in one in-process map with
//! Envoy's compare-and-swap rules (the service's worker threads are what Envoy's workers are to
//! the filter), counters kept for `/metrics`, log lines on standard output, and the facts of the
//! check being decided (the client's address, its certificate) as Envoy sent them.

use super::fetch::{Client, Deliver};
use authgate::capabilities::memory::Locked;
use authgate::capabilities::{Callout, Host, LogLevel, Random, Shared, SharedSetError};
use std::cell::{Cell, RefCell};
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

    /// `{"stats":[{"name":"authgate.allowed","value":3},…]}`: the filter's names, as Envoy's
    /// `/stats?format=json` lists the filter's counters.
    pub fn json(&self) -> String {
        let c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let items: Vec<String> = c
            .iter()
            .map(|(name, n)| {
                // Counter names are the filter's own: letters, digits, `.`, `_` and `-`.
                let name: String = name
                    .chars()
                    .filter(|ch| !matches!(ch, '"' | '\\'))
                    .collect();
                format!("{{\"name\":\"{name}\",\"value\":{n}}}")
            })
            .collect();
        format!("{{\"stats\":[{}]}}\n", items.join(","))
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

/// How a worker thread makes its remote calls: the service's client, where the answers go
/// (back to this thread), and the next call's token.
pub struct Calls {
    pub client: Arc<Client>,
    pub deliver: Deliver,
    pub next: Cell<u32>,
}

/// The host for one worker thread; the check being decided sets its facts.
pub struct ServiceHost {
    /// Remote calls; `None` for the host that only checks a configuration.
    pub calls: Option<Calls>,
    /// `--metadata-claim`: the claims a pass returns in its dynamic metadata.
    pub metadata_claims: Arc<[String]>,
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

    fn adds_atomically(&self) -> bool {
        true
    }

    /// The service calls the configured URL itself (`cluster` names an Envoy cluster, which
    /// means nothing here); the answer comes back to this thread as a message.
    fn dispatch(&self, call: &Callout) -> Result<u32, String> {
        let calls = self
            .calls
            .as_ref()
            .ok_or("this host makes no remote calls")?;
        let token = calls.next.get();
        calls.next.set(token.wrapping_add(1).max(1));
        calls.client.send(call, token, Arc::clone(&calls.deliver))?;
        Ok(token)
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

    fn signatures(&self) -> Option<Rc<dyn authgate::crypto::HostSignatures>> {
        Some(Rc::new(authgate_signatures::NativeSignatures))
    }

    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}
