//! The introspection endpoint found from the issuer's metadata (`introspection_endpoint`,
//! RFC 8414 §2; OpenID Connect Discovery first, then RFC 8414, as for key sets): read once for
//! every worker under a lease, published in shared data, read again every
//! `cache_duration_seconds`. A failed read keeps the last good endpoint and says so.

use super::{Event, Introspections};
use crate::capabilities::{Callout, Host, LogLevel};
use crate::engine::Engine;
use crate::providers::introspection::Introspector;
use crate::providers::jwt::remote::metadata_member;

fn record_key(what: &str, cluster: &str, issuer: &str) -> String {
    format!("authgate.introspection.{what}.{cluster}.{issuer}")
}

/// The providers with an endpoint to discover: (index, name, service).
fn discovering(engine: &Engine) -> impl Iterator<Item = (usize, &str, &Introspector)> {
    engine
        .config()
        .providers
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let s = p.check.introspection()?;
            s.discovery.as_ref().map(|_| (i, p.name.as_str(), s))
        })
}

impl Introspections {
    /// On the tick: uses the endpoints other workers discovered, and reads the metadata that
    /// is due and that no other worker has leased.
    pub fn sync(&self, host: &dyn Host, engine: &Engine) {
        let now_ms = host.now_ms();
        for (i, name, service) in discovering(engine) {
            let Some(d) = &service.discovery else {
                continue;
            };
            let published = host
                .shared_get(&record_key("discovery", &d.cluster, &d.issuer))
                .and_then(|s| s.value)
                .and_then(|v| String::from_utf8(v).ok());
            if let Some((at, url)) = published.as_deref().and_then(|r| r.split_once('\n')) {
                if let Ok(at) = at.parse() {
                    service.set_discovered(url, at);
                }
            }
            let busy = self.metadata.borrow().values().any(|&(p, _)| p == i);
            if busy || !d.due(now_ms / 1000) {
                continue;
            }
            let lease = record_key("dlease", &d.cluster, &d.issuer);
            if super::super::take_lease(host, &lease, now_ms, now_ms + d.timeout_ms * 2 + 1000) {
                self.read_metadata(host, (i, name, service), 0);
            }
        }
    }

    fn read_metadata(
        &self,
        host: &dyn Host,
        (i, name, service): (usize, &str, &Introspector),
        form: usize,
    ) {
        let Some(d) = &service.discovery else {
            return;
        };
        let call = Callout {
            cluster: &d.cluster,
            scheme: Callout::scheme_of(&d.issuer),
            headers: vec![
                (":method", "GET"),
                (":path", &d.paths[form]),
                (":authority", &d.authority),
                ("accept", "application/json"),
            ],
            body: None,
            timeout_ms: d.timeout_ms,
        };
        match host.dispatch(&call) {
            Ok(id) => {
                self.metadata.borrow_mut().insert(id, (i, form));
            }
            Err(status) => host.log(
                LogLevel::Error,
                &format!(
                    "authgate: provider {name}: cannot call cluster {} for the issuer metadata: {status}",
                    d.cluster
                ),
            ),
        }
    }

    /// The answer to metadata call `id`: the endpoint to use (published for the other
    /// workers), the RFC 8414 form to try when the OpenID Connect one is not there, or a
    /// logged failure that keeps the last good endpoint. `None` when the call was not one.
    pub(super) fn on_metadata(
        &self,
        host: &dyn Host,
        engine: &Engine,
        id: u32,
        status: Option<&str>,
        body: &[u8],
    ) -> Option<Event> {
        let (i, form) = self.metadata.borrow_mut().remove(&id)?;
        let (_, name, service) = discovering(engine).find(|(j, _, _)| *j == i)?;
        let d = service.discovery.as_ref()?;
        let url = format!("http(s)://{}{}", d.authority, d.paths[form]);
        if status == Some("404") && form == 0 {
            self.read_metadata(host, (i, name, service), 1);
            return None;
        }
        let now = host.now_ms() / 1000;
        let outcome = match status {
            Some("200") => metadata_member(body, &d.issuer, "introspection_endpoint"),
            Some(s) => Err(format!("HTTP status {s}")),
            None => Err("no response (timeout or connection failure)".into()),
        };
        match &outcome {
            Ok(endpoint) => {
                if service.set_discovered(endpoint, now) {
                    host.log(
                        LogLevel::Info,
                        &format!("authgate: provider {name}: discovered introspection_endpoint {endpoint} from {url}"),
                    );
                }
                let record = format!("{now}\n{endpoint}");
                let key = record_key("discovery", &d.cluster, &d.issuer);
                let _ = host.shared_set(&key, record.as_bytes(), None);
            }
            Err(why) => host.log(
                LogLevel::Error,
                &format!(
                    "authgate: provider {name}: discovery from {url} (cluster {}) failed: {why}; keeping the last good introspection_endpoint",
                    d.cluster
                ),
            ),
        }
        Some(Event::Discovered(i, outcome.is_ok()))
    }
}
