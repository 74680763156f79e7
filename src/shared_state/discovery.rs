//! An endpoint found in an issuer's metadata (RFC 8414 §2; OpenID Connect Discovery first, then
//! RFC 8414, as for key sets), for whatever needs one — introspection's
//! `introspection_endpoint`, token exchange's `token_endpoint`: read once for every worker
//! under a lease, published in shared data, read again every `cache_duration_seconds`. A
//! failed read keeps the last good endpoint and says so.

use crate::capabilities::{Callout, Host, LogLevel};
use crate::providers::introspection::endpoint::{Discovery, Located};
use crate::providers::jwt::remote::metadata_member;
use std::cell::RefCell;
use std::collections::HashMap;

/// Something whose endpoint may be discovered.
pub trait Discovered {
    /// Its endpoint.
    fn located(&self) -> &Located;

    /// How it is found, when it is.
    fn discovery(&self) -> Option<&Discovery> {
        self.located().discovery.as_ref()
    }

    /// Uses `url`, read at `at` (seconds), from now on; `true` when it changed.
    fn set_discovered(&self, url: &str, at: u64) -> bool {
        self.located().set_discovered(url, at)
    }
}

/// One endpoint to discover: who wants it (for logs), the metadata member that names it.
pub struct Site<'a> {
    /// Names it in logs: `provider opaque`, `rules[0].token_exchange`.
    pub label: String,
    /// The metadata member (`token_endpoint`).
    pub member: &'static str,
    /// What uses it.
    pub target: &'a dyn Discovered,
}

/// Metadata calls in flight on this worker: (site, form) by call id.
#[derive(Default)]
pub struct MetadataCalls {
    calls: RefCell<HashMap<u32, (usize, usize)>>,
}

fn record_key(what: &str, member: &str, d: &Discovery) -> String {
    format!("authgate.{member}.{what}.{}.{}", d.cluster, d.issuer)
}

impl MetadataCalls {
    /// Forgets the calls in flight (a new configuration).
    pub fn clear(&self) {
        self.calls.borrow_mut().clear();
    }

    /// On the tick: uses the endpoints other workers discovered, and reads the metadata that
    /// is due and that no other worker has leased.
    pub fn sync(&self, host: &dyn Host, sites: &[Site]) {
        let now_ms = host.now_ms();
        for (i, site) in sites.iter().enumerate() {
            let Some(d) = site.target.discovery() else {
                continue;
            };
            let published = host
                .shared_get(&record_key("discovery", site.member, d))
                .and_then(|s| s.value)
                .and_then(|v| String::from_utf8(v).ok());
            if let Some((at, url)) = published.as_deref().and_then(|r| r.split_once('\n')) {
                if let Ok(at) = at.parse() {
                    site.target.set_discovered(url, at);
                }
            }
            let busy = self.calls.borrow().values().any(|&(s, _)| s == i);
            if busy || !d.due(now_ms / 1000) {
                continue;
            }
            let lease = record_key("dlease", site.member, d);
            if super::take_lease(host, &lease, now_ms, now_ms + d.timeout_ms * 2 + 1000) {
                self.read(host, (i, site), 0);
            }
        }
    }

    fn read(&self, host: &dyn Host, (i, site): (usize, &Site), form: usize) {
        let Some(d) = site.target.discovery() else {
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
                self.calls.borrow_mut().insert(id, (i, form));
            }
            Err(status) => host.log(
                LogLevel::Error,
                &format!(
                    "authgate: {}: cannot call cluster {} for the issuer metadata: {status}",
                    site.label, d.cluster
                ),
            ),
        }
    }

    /// The answer to metadata call `id`: the endpoint to use (published for the other
    /// workers), the RFC 8414 form to try when the OpenID Connect one is not there, or a
    /// logged failure that keeps the last good endpoint. `None` when the call was not one of
    /// these; `Some(None)` when the other form is being tried; else the site and whether it
    /// was read.
    pub fn on_response(
        &self,
        host: &dyn Host,
        sites: &[Site],
        id: u32,
        status: Option<&str>,
        body: &[u8],
    ) -> Option<Option<(usize, bool)>> {
        let (i, form) = self.calls.borrow_mut().remove(&id)?;
        let site = sites.get(i)?;
        let d = site.target.discovery()?;
        let url = format!("http(s)://{}{}", d.authority, d.paths[form]);
        if status == Some("404") && form == 0 {
            self.read(host, (i, site), 1);
            return Some(None);
        }
        let now = host.now_ms() / 1000;
        let outcome = match status {
            Some("200") => metadata_member(body, &d.issuer, site.member),
            Some(s) => Err(format!("HTTP status {s}")),
            None => Err("no response (timeout or connection failure)".into()),
        };
        let member = site.member;
        match &outcome {
            Ok(endpoint) => {
                if site.target.set_discovered(endpoint, now) {
                    host.log(
                        LogLevel::Info,
                        &format!(
                            "authgate: {}: discovered {member} {endpoint} from {url}",
                            site.label
                        ),
                    );
                }
                let record = format!("{now}\n{endpoint}");
                let key = record_key("discovery", member, d);
                let _ = host.shared_set(&key, record.as_bytes(), None);
            }
            Err(why) => host.log(
                LogLevel::Error,
                &format!(
                    "authgate: {}: discovery from {url} (cluster {}) failed: {why}; keeping the last good {member}",
                    site.label, d.cluster
                ),
            ),
        }
        Some(Some((i, outcome.is_ok())))
    }
}
