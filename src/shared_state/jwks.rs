//! Remote key sets fetched once for all workers. A fetch is leased in shared data (the worker
//! whose compare-and-swap takes the lease fetches; the lease also spaces out retries), and the
//! result is published there as `"<fetched_at>\n<body>"`, which every other worker installs on
//! its next tick. A failed fetch keeps the last good key set and says so in the log.

use crate::capabilities::{Callout, Host, LogLevel};
use crate::engine::Engine;
use std::cell::RefCell;
use std::collections::HashMap;

/// This worker's side of the remote key sets.
#[derive(Debug, Default)]
pub struct JwksFetches {
    /// Calls in flight: token → provider index.
    calls: RefCell<HashMap<u32, usize>>,
    /// The compare-and-swap token of the shared record installed, per provider index.
    installed: RefCell<HashMap<usize, u32>>,
}

/// What became of one answered fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// The provider it was for.
    pub provider: usize,
    /// Whether a key set was installed.
    pub ok: bool,
}

/// The shared-data key of a key set (`what` = jwks) or its lease (`what` = lease), per URI and
/// cluster, so providers with the same source share one fetch.
fn shared_key(what: &str, uri: &str, cluster: &str) -> String {
    format!("authgate.{what}.{cluster}.{uri}")
}

/// `"<fetched_at>\n<body>"` → (fetched_at, body).
fn split_record(record: &[u8]) -> Option<(u64, &[u8])> {
    let nl = record.iter().position(|&b| b == b'\n')?;
    let at = std::str::from_utf8(&record[..nl]).ok()?.parse().ok()?;
    Some((at, &record[nl + 1..]))
}

impl JwksFetches {
    /// For a new configuration: nothing installed yet, and a lease record for every remote key
    /// set (a lease can only be taken by compare-and-swap on an existing record).
    pub fn configure(&self, host: &dyn Host, engine: &Engine) {
        self.installed.borrow_mut().clear();
        for (_, _, r) in engine.remote_jwks() {
            let lease = shared_key("lease", &r.uri, &r.cluster);
            if host.shared_get(&lease).is_some_and(|s| s.value.is_none()) {
                let _ = host.shared_set(&lease, b"0", None);
            }
        }
    }

    /// Installs key sets other workers fetched, and starts the fetches that are due and that
    /// no other worker has leased.
    pub fn sync_and_fetch(&self, host: &dyn Host, engine: &Engine) {
        let now = host.now_ms();
        for (i, name, remote) in engine.remote_jwks() {
            let key = shared_key("jwks", &remote.uri, &remote.cluster);
            if let Some(shared) = host.shared_get(&key) {
                if let (Some(record), Some(cas)) = (shared.value, shared.cas) {
                    if self.installed.borrow().get(&i) != Some(&cas) {
                        if let Some((at, body)) = split_record(&record) {
                            if engine.install_jwks(i, body, at).is_ok() {
                                self.installed.borrow_mut().insert(i, cas);
                            }
                        }
                    }
                }
            }
            let busy = self.calls.borrow().values().any(|&j| j == i);
            if busy || !remote.fetch_due(now / 1000, remote.fetched_at()) {
                continue;
            }
            // The lease is also the retry back-off: the next attempt waits for it to lapse.
            let lease = shared_key("lease", &remote.uri, &remote.cluster);
            let Some(shared) = host.shared_get(&lease) else {
                continue;
            };
            let until: u64 = shared
                .value
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if until > now || shared.cas.is_none() {
                continue;
            }
            let next = (now + remote.timeout_ms + 1000).to_string();
            if host
                .shared_set(&lease, next.as_bytes(), shared.cas)
                .is_err()
            {
                continue; // another worker took it
            }
            let call = Callout {
                cluster: &remote.cluster,
                headers: vec![
                    (":method", "GET"),
                    (":path", remote.path.as_str()),
                    (":authority", remote.authority.as_str()),
                    ("accept", "application/json"),
                ],
                body: None,
                timeout_ms: remote.timeout_ms,
            };
            match host.dispatch(&call) {
                Ok(token) => {
                    self.calls.borrow_mut().insert(token, i);
                }
                Err(status) => host.log(
                    LogLevel::Error,
                    &format!(
                        "authgate: provider {name}: cannot call cluster {} for the JWKS: {status}",
                        remote.cluster
                    ),
                ),
            }
        }
    }

    /// The answer to call `token` (`status` is `None` when there was no answer): installs and
    /// publishes the key set, or logs why not. `None` when the call was not a fetch of ours.
    pub fn on_response(
        &self,
        host: &dyn Host,
        engine: &Engine,
        token: u32,
        status: Option<&str>,
        body: &[u8],
    ) -> Option<Fetched> {
        let i = self.calls.borrow_mut().remove(&token)?;
        let (_, name, remote) = engine.remote_jwks().find(|(j, _, _)| *j == i)?;
        let now = host.now_ms() / 1000;
        let outcome = match status {
            Some("200") => engine.install_jwks(i, body, now),
            Some(s) => Err(format!("HTTP status {s}")),
            None => Err("no response (timeout or connection failure)".into()),
        };
        match &outcome {
            Ok(n) => {
                host.log(
                    LogLevel::Info,
                    &format!("authgate: provider {name}: fetched {n} keys from {}", remote.uri),
                );
                let mut record = format!("{now}\n").into_bytes();
                record.extend_from_slice(body);
                let key = shared_key("jwks", &remote.uri, &remote.cluster);
                if host.shared_set(&key, &record, None).is_ok() {
                    if let Some(cas) = host.shared_get(&key).and_then(|s| s.cas) {
                        self.installed.borrow_mut().insert(i, cas);
                    }
                }
            }
            Err(why) => host.log(
                LogLevel::Error,
                &format!(
                    "authgate: provider {name}: fetching the JWKS from {} (cluster {}) failed: {why}; keeping the last good key set",
                    remote.uri, remote.cluster
                ),
            ),
        }
        Some(Fetched {
            provider: i,
            ok: outcome.is_ok(),
        })
    }
}

#[cfg(test)]
mod tests;
