//! Remote key sets fetched once for all workers. A fetch is leased in shared data (the worker
//! whose compare-and-swap takes the lease fetches; the lease also spaces out retries), and the
//! result is published there as `"<fetched_at>\n<body>"`, which every other worker installs on
//! its next tick. With discovery, the issuer's metadata is read the same way first (OpenID
//! Connect Discovery, then RFC 8414) and the `jwks_uri` it names is published for every worker.
//! A failed fetch keeps the last good key set (and `jwks_uri`) and says so in the log.

use crate::capabilities::{Callout, Host, LogLevel};
use crate::engine::Engine;
use crate::providers::jwt::remote::RemoteJwks;
use std::cell::RefCell;
use std::collections::HashMap;

/// What a call in flight is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// The key set of provider `.0`.
    Keys(usize),
    /// The issuer metadata of provider `.0`, in form `.1` (0: OpenID Connect, 1: RFC 8414).
    Metadata(usize, usize),
}

impl Call {
    fn provider(self) -> usize {
        match self {
            Call::Keys(i) | Call::Metadata(i, _) => i,
        }
    }
}

/// This worker's side of the remote key sets.
#[derive(Debug, Default)]
pub struct JwksFetches {
    /// Calls in flight, each with when it is given up for lost (ms): a call Envoy cancelled
    /// without an answer (its context ended) must not keep the worker from fetching again.
    calls: RefCell<HashMap<u32, (Call, u64)>>,
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

/// The shared-data key of a key set (`what` = jwks), its lease (`lease`), a discovered
/// `jwks_uri` (`discovery`) or its lease (`dlease`), per URI and cluster, so providers with the
/// same source share one fetch.
fn shared_key(what: &str, uri: &str, cluster: &str) -> String {
    format!("authgate.{what}.{cluster}.{uri}")
}

/// `"<at>\n<bytes>"` → (at, bytes).
fn split_record(record: &[u8]) -> Option<(u64, &[u8])> {
    let nl = record.iter().position(|&b| b == b'\n')?;
    let at = std::str::from_utf8(&record[..nl]).ok()?.parse().ok()?;
    Some((at, &record[nl + 1..]))
}

fn record(at: u64, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{at}\n").into_bytes();
    out.extend_from_slice(body);
    out
}

impl JwksFetches {
    /// For a new configuration: nothing installed yet (leases are created where they are
    /// taken).
    pub fn configure(&self) {
        self.installed.borrow_mut().clear();
    }

    fn busy(&self, call: Call) -> bool {
        self.calls.borrow().values().any(|&(c, _)| c == call)
    }

    fn dispatch(
        &self,
        host: &dyn Host,
        name: &str,
        call: Call,
        target: (&str, &str, &str, &str),
        timeout_ms: u64,
        // The lease to shorten if the call cannot even be made (see `retry_soon`).
        retry: Option<&str>,
    ) {
        let (url, cluster, authority, path) = target;
        let c = Callout {
            cluster,
            scheme: Callout::scheme_of(url),
            headers: vec![
                (":method", "GET"),
                (":path", path),
                (":authority", authority),
                ("accept", "application/json"),
            ],
            body: None,
            timeout_ms,
        };
        match host.dispatch(&c) {
            Ok(token) => {
                let lost_at = host.now_ms() + 2 * timeout_ms + 1000;
                self.calls.borrow_mut().insert(token, (call, lost_at));
            }
            Err(status) => {
                if let Some(lease) = retry {
                    retry_soon(host, lease);
                }
                host.log(
                    LogLevel::Error,
                    &format!(
                        "authgate: provider {name}: cannot call cluster {cluster} for the {}: {status}",
                        match call {
                            Call::Keys(_) => "JWKS",
                            Call::Metadata(..) => "issuer metadata",
                        }
                    ),
                )
            }
        }
    }

    /// Installs what other workers fetched (discovered `jwks_uri`s, key sets), and starts the
    /// fetches that are due and that no other worker has leased.
    pub fn sync_and_fetch(&self, host: &dyn Host, engine: &Engine) {
        let now = host.now_ms();
        self.calls
            .borrow_mut()
            .retain(|_, (_, lost_at)| *lost_at > now);
        for (i, name, remote) in engine.remote_jwks() {
            if let Some(d) = &remote.discovery {
                // The whole document is published, not just `jwks_uri`: sign-in reads its
                // endpoints from it.
                let key = shared_key("metadata", &d.issuer, &d.cluster);
                if let Some(value) = host.shared_get(&key).and_then(|s| s.value) {
                    if let Some((at, body)) = split_record(&value) {
                        if let Ok((uri, doc)) = remote.read_metadata(body) {
                            remote.set_discovered(&uri, at);
                            remote.set_document(doc);
                        }
                    }
                }
                if remote.discovery_due(now / 1000)
                    && !self.busy(Call::Metadata(i, 0))
                    && !self.busy(Call::Metadata(i, 1))
                {
                    let lease = shared_key("dlease", &d.issuer, &d.cluster);
                    if super::take_lease(host, &lease, now, now + remote.timeout_ms * 2 + 1000) {
                        let target = (
                            d.issuer.as_str(),
                            d.cluster.as_str(),
                            d.authority.as_str(),
                            d.paths[0].as_str(),
                        );
                        let call = Call::Metadata(i, 0);
                        let retry = remote.document().is_none().then_some(lease.as_str());
                        self.dispatch(host, name, call, target, remote.timeout_ms, retry);
                    }
                }
            }
            let Some(t) = remote.target() else {
                continue; // discovery has not found the key set yet
            };
            let key = shared_key("jwks", &t.uri, &t.cluster);
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
            if self.busy(Call::Keys(i)) || !remote.fetch_due(now / 1000, remote.fetched_at()) {
                continue;
            }
            let lease = shared_key("lease", &t.uri, &t.cluster);
            if super::take_lease(host, &lease, now, now + remote.timeout_ms + 1000) {
                let target = (
                    t.uri.as_str(),
                    t.cluster.as_str(),
                    t.authority.as_str(),
                    t.path.as_str(),
                );
                let retry = remote.fetched_at().is_none().then_some(lease.as_str());
                self.dispatch(host, name, Call::Keys(i), target, remote.timeout_ms, retry);
            }
        }
    }

    /// The answer to call `token` (`status` is `None` when there was no answer): installs and
    /// publishes what it brought, or logs why not. `None` when the call was not ours.
    pub fn on_response(
        &self,
        host: &dyn Host,
        engine: &Engine,
        token: u32,
        status: Option<&str>,
        body: &[u8],
    ) -> Option<Fetched> {
        let (call, _) = self.calls.borrow_mut().remove(&token)?;
        let i = call.provider();
        let (_, name, remote) = engine.remote_jwks().find(|(j, _, _)| *j == i)?;
        let now = host.now_ms() / 1000;
        if let Call::Metadata(_, form) = call {
            return self.on_metadata(host, (i, name, remote), form, status, body, now);
        }
        let t = remote.target()?;
        let outcome = match status {
            Some("200") => engine.install_jwks(i, body, now),
            Some(s) => Err(format!("HTTP status {s}")),
            None => Err("no response (timeout or connection failure)".into()),
        };
        match &outcome {
            Ok(n) => {
                host.log(
                    LogLevel::Info,
                    &format!("authgate: provider {name}: fetched {n} keys from {}", t.uri),
                );
                let key = shared_key("jwks", &t.uri, &t.cluster);
                if host.shared_set(&key, &record(now, body), None).is_ok() {
                    if let Some(cas) = host.shared_get(&key).and_then(|s| s.cas) {
                        self.installed.borrow_mut().insert(i, cas);
                    }
                }
            }
            Err(why) => {
                if remote.fetched_at().is_none() {
                    retry_soon(host, &shared_key("lease", &t.uri, &t.cluster));
                }
                host.log(
                    LogLevel::Error,
                    &format!(
                        "authgate: provider {name}: fetching the JWKS from {} (cluster {}) failed: {why}; keeping the last good key set",
                        t.uri, t.cluster
                    ),
                )
            }
        }
        Some(Fetched {
            provider: i,
            ok: outcome.is_ok(),
        })
    }

    /// An issuer metadata answer: a `jwks_uri` to use (published for the other workers), the
    /// RFC 8414 form to try when the OpenID Connect form is not there, or a logged failure that
    /// keeps the last good `jwks_uri`.
    fn on_metadata(
        &self,
        host: &dyn Host,
        (i, name, remote): (usize, &str, &RemoteJwks),
        form: usize,
        status: Option<&str>,
        body: &[u8],
        now: u64,
    ) -> Option<Fetched> {
        let d = remote.discovery.as_ref()?;
        let url = format!("http(s)://{}{}", d.authority, d.paths[form]);
        let lease = shared_key("dlease", &d.issuer, &d.cluster);
        if status == Some("404") && form == 0 {
            let target = (
                d.issuer.as_str(),
                d.cluster.as_str(),
                d.authority.as_str(),
                d.paths[1].as_str(),
            );
            self.dispatch(
                host,
                name,
                Call::Metadata(i, 1),
                target,
                remote.timeout_ms,
                remote.document().is_none().then_some(lease.as_str()),
            );
            return None;
        }
        let outcome = match status {
            Some("200") => remote.read_metadata(body),
            Some(s) => Err(format!("HTTP status {s}")),
            None => Err("no response (timeout or connection failure)".into()),
        };
        match &outcome {
            Ok((uri, doc)) => {
                remote.set_document(doc.clone());
                if remote.set_discovered(uri, now) {
                    host.log(
                        LogLevel::Info,
                        &format!("authgate: provider {name}: discovered jwks_uri {uri} from {url}"),
                    );
                }
                let key = shared_key("metadata", &d.issuer, &d.cluster);
                let _ = host.shared_set(&key, &record(now, body), None);
            }
            Err(why) => {
                if remote.document().is_none() {
                    retry_soon(host, &lease);
                }
                host.log(
                    LogLevel::Error,
                    &format!(
                        "authgate: provider {name}: discovery from {url} (cluster {}) failed: {why}; keeping the last good jwks_uri",
                        d.cluster
                    ),
                )
            }
        }
        // Only a failure is counted here: a success is counted when the key set arrives.
        outcome.is_err().then_some(Fetched {
            provider: i,
            ok: false,
        })
    }
}

/// How soon a failed first fetch is tried again (ms), by whichever worker comes first: at
/// Envoy's start a cluster may not take calls yet, and a sign-in waiting for the issuer's
/// metadata must not wait out a whole lease. One try a second per Envoy at most, and only
/// while nothing was ever fetched: a failed refresh keeps the last good keys and waits out
/// its lease.
pub const RETRY_MS: u64 = 1000;

/// Shortens lease `key` to end [`RETRY_MS`] from now (best effort: a lease another worker
/// changed meanwhile is left as it is).
fn retry_soon(host: &dyn Host, key: &str) {
    if let Some(shared) = host.shared_get(key) {
        if let Some(cas) = shared.cas {
            let until = host.now_ms() + RETRY_MS;
            let _ = host.shared_set(key, until.to_string().as_bytes(), Some(cas));
        }
    }
}

#[cfg(test)]
mod tests;
