//! What the core needs from the proxy, behind one trait: the clock, shared data with
//! compare-and-swap, HTTP callouts, counters, log lines, randomness and (room for) signature
//! verification by the host. The wasm adapter implements it with proxy-wasm host calls; native
//! tests use [`fake::FakeHost`]. Every policy around the host (leases, throttle updates, audit
//! limits, accounting) is written against this trait, so it runs and is tested natively.

#[cfg(test)]
pub mod fake;
pub mod memory;
pub mod secrets;

use std::rc::Rc;

/// Severity of a log line, as the proxy's logger understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

/// Why a shared-data write did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SharedSetError {
    /// Another writer changed the value since it was read (compare-and-swap lost).
    CasMismatch,
    /// The host refused the write for another reason.
    Host,
}

impl std::fmt::Display for SharedSetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SharedSetError::CasMismatch => "another worker wrote first",
            SharedSetError::Host => "the host refused the write",
        })
    }
}

/// A value in host shared data and its compare-and-swap token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shared {
    /// The bytes, when the key exists.
    pub value: Option<Vec<u8>>,
    /// The token a conditional write must quote; `None` when the key does not exist.
    pub cas: Option<u32>,
}

/// An HTTP call to dispatch through a proxy cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout<'a> {
    /// The proxy cluster.
    pub cluster: &'a str,
    /// `http` or `https`, from the configured URL: what a host that calls the URL itself (the
    /// ext_authz service) needs; a proxy reaches the cluster as the cluster says.
    pub scheme: &'static str,
    /// Request headers, pseudo-headers included.
    pub headers: Vec<(&'a str, &'a str)>,
    /// Request body, if any.
    pub body: Option<&'a [u8]>,
    /// How long the proxy waits for the answer.
    pub timeout_ms: u64,
}

impl Callout<'_> {
    /// The scheme of `url` (`https` unless it says `http://`).
    pub fn scheme_of(url: &str) -> &'static str {
        if url.starts_with("http://") {
            "http"
        } else {
            "https"
        }
    }

    /// The headers, owned: for a host that sends the call later.
    pub fn owned_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// Fills a buffer with unpredictable bytes from the host (WASI `random_get`); `false` when the
/// host could not, which callers treat as a failure (never as zeros).
pub type Random = Rc<dyn Fn(&mut [u8]) -> bool>;

/// Reads one of the Wasm VM's environment variables.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The proxy, as the core sees it. Every method fails closed: a host error reads as "absent",
/// "not written" or "not dispatched", never as success.
pub trait Host {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// Reads `key` from data shared by every worker of the proxy. `None`: the host failed.
    fn shared_get(&self, key: &str) -> Option<Shared>;

    /// Writes `key`; with `cas`, only if nobody wrote since the read that returned it.
    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedSetError>;

    /// Writes `key` only if it does not exist (`CasMismatch` if it does), atomically where the
    /// host can: the native module's and the tests' stores. Envoy's wasm shared data has no
    /// such write; there it is a plain write, so two workers that create one key at the same
    /// instant may both succeed (see [`Host::adds_atomically`]).
    fn shared_add(&self, key: &str, value: &[u8]) -> Result<(), SharedSetError> {
        self.shared_set(key, value, None)
    }

    /// Whether [`Host::shared_add`] is a true create-if-absent. Where it is not (Envoy's wasm
    /// shared data), records whose first write must not race are created empty when a
    /// configuration is applied, before any request can write them
    /// ([`crate::shared_state::replay::prepare`]).
    fn adds_atomically(&self) -> bool {
        false
    }

    /// Dispatches an HTTP call; its answer comes back later as an event with the returned token.
    fn dispatch(&self, call: &Callout) -> Result<u32, String>;

    /// Defines a counter; `None` when the host refuses it (the counter is then not kept).
    fn define_counter(&self, name: &str) -> Option<u32>;

    /// Adds `by` to a counter defined earlier.
    fn increment_counter(&self, id: u32, by: u64);

    /// Whether a line at `level` would be written (lines that would not are never built).
    fn log_enabled(&self, level: LogLevel) -> bool;

    /// Writes a log line.
    fn log(&self, level: LogLevel, line: &str);

    /// Whether counters reach the host at each decision rather than on the tick: a host whose
    /// tick runs only inside requests (the native module) would otherwise keep a quiet
    /// moment's counts until the next request.
    fn counts_each_decision(&self) -> bool {
        false
    }

    /// The current request's downstream address (`ip:port`), or empty when unknown.
    fn client_address(&self) -> String;

    /// 32 unpredictable bytes (keys for caches and fingerprints).
    fn random_key(&self) -> [u8; 32];

    /// The host's randomness for values a browser carries (`state`, `nonce`), if it has one:
    /// asked once at configure, used on requests.
    fn random(&self) -> Option<Random> {
        None
    }

    /// The host's own signature verification, when it has one (probed once per call; ask at
    /// configure).
    fn signatures(&self) -> Option<std::rc::Rc<dyn crate::crypto::HostSignatures>> {
        None
    }

    /// The SHA-256 (hex) of the current request's client certificate, when its connection
    /// has one (Envoy's `connection.sha256_peer_certificate_digest`).
    fn peer_certificate_sha256(&self) -> Option<String> {
        None
    }

    /// Whether the current request's downstream connection is TLS (Envoy's
    /// `connection.tls_version` is set); `None` when the host cannot tell.
    fn connection_tls(&self) -> Option<bool> {
        None
    }

    /// A variable of the VM's environment (Envoy's `vm_config.environment_variables`).
    fn env_var(&self, _name: &str) -> Option<String> {
        None
    }
}
