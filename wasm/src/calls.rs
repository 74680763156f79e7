//! The core's [`Host`] trait over proxy-wasm host calls. Calls go through `hostcalls` so that
//! every failure is handled (the SDK's trait helpers panic on non-UTF-8 values or host errors),
//! and handled closed: an error reads as absent, not written or not dispatched.

use authgate::capabilities::{Callout, Host, LogLevel, Shared, SharedSetError};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{MetricType, Status};
use std::time::{Duration, UNIX_EPOCH};

/// The proxy, reached through host calls.
pub struct HostCalls;

fn level(l: LogLevel) -> log::Level {
    match l {
        LogLevel::Debug => log::Level::Debug,
        LogLevel::Info => log::Level::Info,
        LogLevel::Warn => log::Level::Warn,
        LogLevel::Error => log::Level::Error,
    }
}

impl Host for HostCalls {
    fn now_ms(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64)
    }

    fn shared_get(&self, key: &str) -> Option<Shared> {
        let (value, cas) = hostcalls::get_shared_data(key).ok()?;
        Some(Shared { value, cas })
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedSetError> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|s| match s {
            Status::CasMismatch => SharedSetError::CasMismatch,
            _ => SharedSetError::Host,
        })
    }

    fn dispatch(&self, call: &Callout) -> Result<u32, String> {
        hostcalls::dispatch_http_call(
            call.cluster,
            call.headers.clone(),
            call.body,
            vec![],
            Duration::from_millis(call.timeout_ms),
        )
        .map_err(|s| format!("{s:?}"))
    }

    fn define_counter(&self, name: &str) -> Option<u32> {
        hostcalls::define_metric(MetricType::Counter, name).ok()
    }

    fn increment_counter(&self, id: u32, by: u64) {
        let _ = hostcalls::increment_metric(id, by as i64);
    }

    fn log_enabled(&self, l: LogLevel) -> bool {
        log::log_enabled!(level(l))
    }

    fn log(&self, l: LogLevel, line: &str) {
        log::log!(level(l), "{line}");
    }

    fn client_address(&self) -> String {
        super::maps::property(&["source", "address"])
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn signatures(&self) -> Option<std::rc::Rc<dyn authgate::crypto::HostSignatures>> {
        super::foreign::EnvoySignatures::probe()
    }

    fn peer_certificate_sha256(&self) -> Option<String> {
        super::maps::property(&["connection", "sha256_peer_certificate_digest"])
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .filter(|d| !d.is_empty())
    }

    /// A property that cannot be read says "not TLS": an `https` `htu` then fails, which is
    /// the side to fail on (never the client's `:scheme`).
    fn connection_tls(&self) -> Option<bool> {
        Some(
            super::maps::property(&["connection", "tls_version"])
                .ok()
                .flatten()
                .is_some_and(|v| !v.is_empty()),
        )
    }

    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn random(&self) -> Option<authgate::capabilities::Random> {
        // WASI `random_get`, served by Envoy; a host that fails the probe has none.
        let mut probe = [0u8; 16];
        getrandom::fill(&mut probe).ok()?;
        Some(std::rc::Rc::new(|out: &mut [u8]| {
            getrandom::fill(out).is_ok()
        }))
    }

    fn random_key(&self) -> [u8; 32] {
        // WASI `random_get` is served by Envoy.
        let mut s = [0u8; 32];
        if getrandom::fill(&mut s).is_err() {
            // Still unique per worker start; caches stay keyed, just less unpredictably.
            s[..16].copy_from_slice(&u128::from(self.now_ms()).to_le_bytes());
        }
        s
    }
}
