//! The metric catalogue: every counter's name, fixed at configure time, and which counters a
//! decision or event moves. The host defines them through proxy-wasm's metric API and only
//! increments by index, so Envoy's `/stats` shows them with no other setup.

use crate::config::Config;
use crate::engine::Decision;
use crate::error::Denial;
use crate::providers::CacheUse;
use crate::shared_state::introspection::Event;

const CODES: [&str; 11] = Denial::CODES;

/// `authgate.introspection.<provider>.<event>`: calls made, answers taken from another
/// worker's call, answers active and inactive, calls that failed.
const INTROSPECTION_EVENTS: [&str; 5] = ["calls", "shared", "active", "inactive", "failed"];

/// `authgate.exchange.<event>`: token-exchange calls made, tokens (or refusals) taken from
/// another worker's call, calls answered with a token, with a refusal, calls that failed.
const EXCHANGE_EVENTS: [&str; 5] = ["calls", "shared", "issued", "refused", "failed"];

/// Counter indexes into [`Catalog::names`].
pub struct Catalog {
    names: Vec<String>,
    allowed: usize,
    denied: usize,
    denied_by: usize,
    provider_allowed: Vec<usize>,
    provider_denied_by: Vec<usize>,
    would_deny: usize,
    would_deny_by: usize,
    held: usize,
    /// Audit lines left out by the rate limit.
    pub audit_suppressed: usize,
    /// Signatures verified by the host, and in the module.
    pub signatures: (usize, usize),
    /// Protected resource metadata documents served.
    metadata_served: usize,
    /// MCP: bodies read for rules with `match.mcp`.
    mcp_bodies_read: usize,
    /// MCP: list answers cut, entries removed from them, and answers passed uncut because
    /// they could not be read.
    pub mcp_lists: (usize, usize, usize),
    /// `(cache name, hit counter, miss counter)`.
    cache: Vec<(&'static str, usize, usize)>,
    jwks: Vec<Option<(usize, usize)>>,
    /// Per provider with a token service: its first counter (calls, shared, active,
    /// inactive, failed follow).
    introspection: Vec<Option<usize>>,
    /// With a `token_exchange`: the first of its counters ([`EXCHANGE_EVENTS`]).
    exchange: Option<usize>,
}

impl Catalog {
    /// The counters for `config`.
    pub fn new(config: &Config) -> Self {
        let mut names: Vec<String> = Vec::new();
        let mut add = |n: String| {
            names.push(n);
            names.len() - 1
        };
        let allowed = add("authgate.allowed".into());
        let denied = add("authgate.denied".into());
        let denied_by = CODES
            .iter()
            .map(|c| add(format!("authgate.denied.{c}")))
            .min()
            .unwrap_or(0);
        let would_deny = add("authgate.report.would_deny".into());
        let would_deny_by = CODES
            .iter()
            .map(|c| add(format!("authgate.report.would_deny.{c}")))
            .min()
            .unwrap_or(0);
        let held = add("authgate.held".into());
        let audit_suppressed = add("authgate.audit.suppressed".into());
        let metadata_served = add("authgate.metadata.served".into());
        let mcp_bodies_read = add("authgate.mcp.bodies_read".into());
        let mcp_lists = (
            add("authgate.mcp.lists_cut".into()),
            add("authgate.mcp.entries_hidden".into()),
            add("authgate.mcp.lists_uncut".into()),
        );
        let signatures = (
            add("authgate.signatures.host".into()),
            add("authgate.signatures.module".into()),
        );
        // The documented caches always have counters; a provider's other cache gets its own.
        let mut cache_names = vec!["basic", "jwt", "introspection"];
        for p in &config.providers {
            if let Some(u) = p.check.take_cache_use() {
                if !cache_names.contains(&u.cache) {
                    cache_names.push(u.cache);
                }
            }
        }
        let cache = cache_names
            .into_iter()
            .map(|c| {
                let hit = add(format!("authgate.cache.{c}.hit"));
                (c, hit, add(format!("authgate.cache.{c}.miss")))
            })
            .collect();
        let mut provider_allowed = Vec::new();
        let mut provider_denied_by = Vec::new();
        let mut jwks = Vec::new();
        let mut introspection = Vec::new();
        for p in &config.providers {
            provider_allowed.push(add(format!("authgate.provider.{}.allowed", p.name)));
            provider_denied_by.push(
                CODES
                    .iter()
                    .map(|c| add(format!("authgate.provider.{}.denied.{c}", p.name)))
                    .min()
                    .unwrap_or(0),
            );
            jwks.push(p.check.remote_jwks().map(|_| {
                (
                    add(format!("authgate.jwks.{}.fetch_ok", p.name)),
                    add(format!("authgate.jwks.{}.fetch_failed", p.name)),
                )
            }));
            introspection.push(p.check.introspection().map(|_| {
                INTROSPECTION_EVENTS
                    .iter()
                    .map(|e| add(format!("authgate.introspection.{}.{e}", p.name)))
                    .min()
                    .unwrap_or(0)
            }));
        }
        let exchanges = config.rules.iter().any(|r| r.exchange.is_some())
            || config.resources.iter().any(|r| r.exchange.is_some());
        let exchange = exchanges.then(|| {
            EXCHANGE_EVENTS
                .iter()
                .map(|e| add(format!("authgate.exchange.{e}")))
                .min()
                .unwrap_or(0)
        });
        Catalog {
            names,
            allowed,
            denied,
            denied_by,
            provider_allowed,
            provider_denied_by,
            would_deny,
            would_deny_by,
            held,
            audit_suppressed,
            signatures,
            metadata_served,
            mcp_bodies_read,
            mcp_lists,
            cache,
            jwks,
            introspection,
            exchange,
        }
    }

    /// Every counter name, in index order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The counters a decision moves by one.
    pub fn for_decision(&self, d: &Decision, config: &Config) -> Vec<usize> {
        let provider = |name: &Option<String>| {
            name.as_ref()
                .and_then(|n| config.providers.iter().position(|p| &p.name == n))
        };
        match d {
            Decision::Allow(a) => match &a.would_deny {
                None => {
                    let mut v = vec![self.allowed];
                    v.extend(provider(&a.provider).map(|i| self.provider_allowed[i]));
                    v
                }
                Some(w) => vec![self.would_deny, self.would_deny_by + w.denial.code_index()],
            },
            Decision::Deny(d) => {
                let code = d.denial.code_index();
                let mut v = vec![self.denied, self.denied_by + code];
                v.extend(provider(&d.provider).map(|i| self.provider_denied_by[i] + code));
                v
            }
            Decision::Wait(_) => vec![self.held],
            // A sign-in that cannot go on because the identity provider cannot be reached (its
            // metadata, keys or token endpoint) is a refusal for want of a dependency, as a
            // 503 of a token provider is: the alert on such refusals must see it.
            Decision::Answer(r) if r.status == 503 => vec![
                self.denied,
                self.denied_by + crate::error::Denial::TemporarilyUnavailable(0).code_index(),
            ],
            Decision::Answer(_) => vec![self.metadata_served],
            Decision::ReadBody => vec![self.mcp_bodies_read],
        }
    }

    /// The counters one provider's cache use moves, with amounts.
    pub fn for_cache(&self, u: CacheUse) -> impl Iterator<Item = (usize, u64)> + use<'_> {
        let counters = self.cache.iter().find(|(c, _, _)| *c == u.cache);
        counters
            .into_iter()
            .flat_map(move |&(_, hit, miss)| [(hit, u.hits), (miss, u.misses)])
            .filter(|(_, n)| *n > 0)
    }

    /// The counter an introspection event moves.
    pub fn for_introspection(&self, e: Event) -> Option<usize> {
        let (i, n) = match e {
            Event::Called(i) => (i, 0),
            Event::Shared(i) => (i, 1),
            Event::Answered(i, true) => (i, 2),
            Event::Answered(i, false) => (i, 3),
            Event::Failed(i) => (i, 4),
            Event::Discovered(..) => return None,
        };
        Some((*self.introspection.get(i)?)? + n)
    }

    /// The counter a token-exchange event moves.
    pub fn for_exchange(&self, e: crate::shared_state::exchange::Event) -> Option<usize> {
        use crate::shared_state::exchange::Event as E;
        let n = match e {
            E::Called => 0,
            E::Shared => 1,
            E::Issued => 2,
            E::Refused => 3,
            E::Failed => 4,
            E::Discovered(_) => return None,
        };
        Some(self.exchange? + n)
    }

    /// The counter a JWKS fetch outcome of provider `i` moves.
    pub fn for_jwks(&self, i: usize, ok: bool) -> Option<usize> {
        let (good, bad) = (*self.jwks.get(i)?)?;
        Some(if ok { good } else { bad })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::request::HeaderList;

    #[test]
    fn decisions_move_their_counters() {
        let e = Engine::from_json(
            br#"{"providers": {"keys": {"type": "api_key", "credentials": [{"client": "c", "key": "k"}]}}}"#,
            [0; 32],
        )
        .unwrap();
        let cat = Catalog::new(e.config());
        let names = |d: &Decision| -> Vec<&str> {
            cat.for_decision(d, e.config())
                .into_iter()
                .map(|i| cat.names()[i].as_str())
                .collect()
        };
        let ok = e.decide(&HeaderList::new("GET", "/", &[("x-api-key", "k")]), 0);
        assert_eq!(
            names(&ok),
            ["authgate.allowed", "authgate.provider.keys.allowed"]
        );
        let bad = e.decide(&HeaderList::new("GET", "/", &[("x-api-key", "x")]), 0);
        assert_eq!(
            names(&bad),
            [
                "authgate.denied",
                "authgate.denied.invalid_credentials",
                "authgate.provider.keys.denied.invalid_credentials"
            ]
        );
        let missing = e.decide(&HeaderList::new("GET", "/", &[]), 0);
        assert_eq!(
            names(&missing),
            ["authgate.denied", "authgate.denied.missing_credentials"]
        );
        // An answer of the module's own (metadata, a sign-in's redirect) is counted as
        // served; a 503 one (a sign-in whose identity provider cannot be reached) as a refusal.
        let mut page = crate::reply::internal_error(false);
        page.status = 503;
        assert_eq!(
            names(&Decision::Answer(Box::new(page.clone()))),
            ["authgate.denied", "authgate.denied.temporarily_unavailable"]
        );
        page.status = 302;
        assert_eq!(
            names(&Decision::Answer(Box::new(page))),
            ["authgate.metadata.served"]
        );
        let unique: std::collections::BTreeSet<_> = cat.names().iter().collect();
        assert_eq!(unique.len(), cat.names().len());
    }
}
