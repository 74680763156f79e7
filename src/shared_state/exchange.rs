//! Issued tokens shared by every worker, and the one token-exchange call per (caller token,
//! exchange) that gets them (RFC 8693). The introspection pattern: a worker with nothing kept
//! looks in shared data (a keyed hash of the exchange and the token picks one of a fixed number
//! of slots; the record names the full hash), else the worker that takes the slot's lease by
//! compare-and-swap calls, and every other request for that token, on any worker, waits for the
//! answer it publishes. A refusal is kept a few seconds too, so a refused caller cannot make
//! every request a call; a failed call marks the server down for a short back-off, during which
//! new tokens are answered 503 at once.

use super::hex;
use crate::cache::VerifiedCache;
use crate::capabilities::{Callout, Host, LogLevel};
use crate::engine::{Engine, ExchangeUse};
use crate::exchange::answer::{self, Outcome};
use crate::exchange::Exchange;
use crate::providers::introspection::endpoint::Located;
use crate::shared_state::discovery::{Discovered, MetadataCalls, Site};
use std::cell::RefCell;
use std::rc::Rc;

/// Shared record slots (for every exchange together: the hash names the exchange too).
pub const SLOTS: u32 = 4096;
/// Issued tokens and refusals a worker keeps itself (twice this at most: the cache's two
/// generations).
const KEPT: usize = 2048;
/// How long a refusal is kept (seconds).
pub const REFUSAL_SECONDS: u64 = 10;
/// How long new tokens are answered 503 after the server failed, and the `Retry-After`.
pub const BACKOFF_SECONDS: u64 = 2;

/// What a worker can do for a pass whose token is to be exchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The token issued for the upstream.
    Issued(String),
    /// The server refused: its `error` code.
    Refused(String),
    /// The server cannot answer now: decide without it (503).
    Unavailable,
    /// A call is under way, here or on another worker: hold the request.
    Waiting,
}

/// Something the counters record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A call was made.
    Called,
    /// A token or refusal came from another worker's call.
    Shared,
    /// A call was answered with a token.
    Issued,
    /// A call was answered with a refusal.
    Refused,
    /// A call failed: no answer, or none that can be used.
    Failed,
    /// The issuer's metadata was read (`true`) or could not be.
    Discovered(bool),
}

/// What is kept for a (token, exchange): until when, and the token or the refusal's code.
#[derive(Debug, Clone)]
struct Kept {
    until: u64,
    outcome: Result<String, String>,
}

struct InFlight {
    hash: [u8; 32],
    slot: u32,
    exchange: Rc<Exchange>,
    /// The request whose context made the call (`None`: the worker's own).
    owner: Option<u32>,
}

/// This worker's side of the shared issued tokens.
pub struct Exchanges {
    /// Calls in flight, by call id (a few at a time: a list).
    calls: RefCell<Vec<(u32, InFlight)>>,
    /// Metadata calls in flight, for token endpoints found from `issuer`.
    metadata: MetadataCalls,
    /// Keyed by [`Engine::shared_hash`], not by the cache's own key.
    kept: RefCell<VerifiedCache<Rc<Kept>>>,
}

impl Default for Exchanges {
    fn default() -> Self {
        Exchanges {
            calls: RefCell::default(),
            metadata: MetadataCalls::default(),
            kept: RefCell::new(VerifiedCache::new([0; 32], KEPT)),
        }
    }
}

fn key(what: &str, slot: u32) -> String {
    format!("authgate.exchange.{what}.{slot}")
}

fn down_key(exchange: &Exchange) -> String {
    format!("authgate.exchange.down.{}", exchange.source())
}

/// `"<until>\n<hash>\n<T|R><token or error>"` → the kept outcome, when the record is `hash`'s.
fn read_record(record: &[u8], hash: &str) -> Option<Kept> {
    let text = std::str::from_utf8(record).ok()?;
    let mut parts = text.splitn(3, '\n');
    let until = parts.next()?.parse().ok()?;
    if parts.next()? != hash {
        return None;
    }
    let rest = parts.next()?;
    let outcome = match rest.split_at_checked(1)? {
        ("T", token) => Ok(token.to_string()),
        ("R", error) => Err(error.to_string()),
        _ => return None,
    };
    Some(Kept { until, outcome })
}

fn lookup_of(kept: &Kept) -> Lookup {
    match &kept.outcome {
        Ok(token) => Lookup::Issued(token.clone()),
        Err(error) => Lookup::Refused(error.clone()),
    }
}

impl Exchanges {
    /// For a new configuration: calls made under the old one are no longer awaited, and
    /// where the host cannot create a record only if absent, every lease exists before a
    /// request can take one (as for introspection).
    pub fn configure(&self, host: &dyn Host, engine: &Engine) {
        self.calls.borrow_mut().clear();
        self.metadata.clear();
        self.kept.borrow_mut().retain(|_| false);
        let config = engine.config();
        let any = config.rules.iter().any(|r| r.exchange.is_some())
            || config.resources.iter().any(|r| r.exchange.is_some());
        if !any || host.adds_atomically() {
            return;
        }
        for slot in 0..SLOTS {
            let lease = key("lease", slot);
            if host.shared_get(&lease).is_some_and(|s| s.value.is_none()) {
                let _ = host.shared_set(&lease, b"0", None);
            }
        }
    }

    /// A request ended: the calls its context made will never be answered here, so their
    /// leases are freed; requests still waiting call again.
    pub fn abandon(&self, host: &dyn Host, owner: u32) {
        self.calls.borrow_mut().retain(|(_, c)| {
            if c.owner != Some(owner) {
                return true;
            }
            let _ = host.shared_set(&key("lease", c.slot), b"0", None);
            false
        });
    }

    /// What can be done now for `wanted`; a call made now is made from `owner`'s context.
    pub fn lookup(
        &self,
        host: &dyn Host,
        engine: &Engine,
        wanted: &ExchangeUse,
        owner: Option<u32>,
    ) -> (Lookup, Option<Event>) {
        let exchange = &wanted.exchange;
        let hash = engine.shared_hash(exchange.source(), wanted.subject.expose());
        let now_ms = host.now_ms();
        let now = now_ms / 1000;
        if let Some(k) = self.kept.borrow_mut().get(&hash).filter(|k| now < k.until) {
            return (lookup_of(&k), None);
        }
        let slot = u32::from_le_bytes([hash[0], hash[1], hash[2], hash[3]]) % SLOTS;
        let shared = |host: &dyn Host| {
            let record = host
                .shared_get(&key("answer", slot))
                .and_then(|s| s.value)?;
            read_record(&record, &hex(&hash)).filter(|k| now < k.until)
        };
        if let Some(k) = shared(host) {
            self.keep(hash, k.clone());
            return (lookup_of(&k), Some(Event::Shared));
        }
        if self.calls.borrow().iter().any(|(_, c)| c.hash == hash) {
            return (Lookup::Waiting, None);
        }
        if super::is_down(host, &down_key(exchange), now_ms) {
            return (Lookup::Unavailable, None);
        }
        let Some(endpoint) = exchange.endpoint() else {
            // Discovery has not found the token endpoint yet: the tick reads the metadata.
            return (Lookup::Waiting, None);
        };
        let lease = key("lease", slot);
        let until_ms = now_ms + exchange.timeout_ms + 1000;
        if !super::take_lease(host, &lease, now_ms, until_ms) {
            return (Lookup::Waiting, None);
        }
        // The worker that held the lease may have published between the look and the lease.
        if let Some(k) = shared(host) {
            let _ = host.shared_set(&lease, b"0", None);
            self.keep(hash, k.clone());
            return (lookup_of(&k), Some(Event::Shared));
        }
        let body = exchange.body(wanted.subject.expose());
        let call = Callout {
            cluster: &exchange.cluster,
            scheme: Callout::scheme_of(&endpoint.url),
            headers: exchange.headers(&endpoint),
            body: Some(&body),
            timeout_ms: exchange.timeout_ms,
        };
        match host.dispatch(&call) {
            Ok(id) => {
                self.calls.borrow_mut().push((
                    id,
                    InFlight {
                        hash,
                        slot,
                        exchange: exchange.clone(),
                        owner,
                    },
                ));
                (Lookup::Waiting, Some(Event::Called))
            }
            Err(status) => {
                host.log(
                    LogLevel::Error,
                    &format!(
                        "authgate: {}: cannot call cluster {} for a token exchange: {status}",
                        exchange.at, exchange.cluster
                    ),
                );
                super::mark_down(host, &down_key(exchange), now_ms, BACKOFF_SECONDS);
                let _ = host.shared_set(&lease, b"0", None);
                (Lookup::Unavailable, Some(Event::Failed))
            }
        }
    }

    fn keep(&self, hash: [u8; 32], kept: Kept) {
        self.kept.borrow_mut().insert(hash, Rc::new(kept));
    }

    /// The answer to call `id` (`status` `None`: no answer): kept here and published for the
    /// other workers, or logged as a failure that marks the server down. `None` when the call
    /// was not one of ours.
    pub fn on_response(
        &self,
        host: &dyn Host,
        engine: &Engine,
        id: u32,
        status: Option<&str>,
        body: &[u8],
    ) -> Option<Event> {
        if let Some(read) = self
            .metadata
            .on_response(host, &sites(engine), id, status, body)
        {
            return read.map(|(_, ok)| Event::Discovered(ok));
        }
        let call = {
            let mut calls = self.calls.borrow_mut();
            let i = calls.iter().position(|(c, _)| *c == id)?;
            calls.swap_remove(i).1
        };
        let exchange = &call.exchange;
        let now_ms = host.now_ms();
        let now = now_ms / 1000;
        let status = status.and_then(|s| s.parse().ok());
        let (kept, event) = match answer::read(status, body) {
            Outcome::Issued(issued) => (
                Some(Kept {
                    until: exchange.until(issued.expires_in, now),
                    outcome: Ok(issued.token),
                }),
                Event::Issued,
            ),
            Outcome::Refused { error, description } => {
                host.log(
                    LogLevel::Info,
                    &format!(
                        "authgate: {}: the authorization server refused a token for {}: {error}{}",
                        exchange.at,
                        exchange.target(),
                        description.map(|d| format!(" ({d})")).unwrap_or_default()
                    ),
                );
                (
                    Some(Kept {
                        until: now + REFUSAL_SECONDS,
                        outcome: Err(error),
                    }),
                    Event::Refused,
                )
            }
            Outcome::Unavailable(why) => {
                host.log(
                    LogLevel::Error,
                    &format!(
                        "authgate: {}: token exchange at {} (cluster {}) failed: {why}; new tokens are answered 503 for {BACKOFF_SECONDS} s",
                        exchange.at, exchange.label(), exchange.cluster
                    ),
                );
                super::mark_down(host, &down_key(exchange), now_ms, BACKOFF_SECONDS);
                (None, Event::Failed)
            }
        };
        if let Some(k) = kept {
            // A token that expires within the second is used for the requests that waited
            // for it and not kept beyond.
            let (tag, value) = match &k.outcome {
                Ok(t) => ('T', t),
                Err(e) => ('R', e),
            };
            let record = format!("{}\n{}\n{tag}{value}", k.until, hex(&call.hash));
            let _ = host.shared_set(&key("answer", call.slot), record.as_bytes(), None);
            self.keep(
                call.hash,
                Kept {
                    until: k.until.max(now + 1),
                    ..k
                },
            );
        }
        // The lease goes only once the answer (or the back-off) is published.
        let _ = host.shared_set(&key("lease", call.slot), b"0", None);
        Some(event)
    }
}

impl Discovered for Exchange {
    fn located(&self) -> &Located {
        &self.located
    }
}

/// The exchanges of rules and resources whose token endpoint is found from `issuer`.
fn sites(engine: &Engine) -> Vec<Site<'_>> {
    let config = engine.config();
    let rules = config.rules.iter().filter_map(|r| r.exchange.as_deref());
    let resources = config
        .resources
        .iter()
        .filter_map(|r| r.exchange.as_deref());
    rules
        .chain(resources)
        .filter(|e| e.located.discovery.is_some())
        .map(|e| Site {
            label: e.at.clone(),
            member: "token_endpoint",
            target: e,
        })
        .collect()
}

impl Exchanges {
    /// On the tick: uses the token endpoints other workers discovered, and reads the metadata
    /// that is due and that no other worker has leased.
    pub fn sync(&self, host: &dyn Host, engine: &Engine) {
        let sites = sites(engine);
        if !sites.is_empty() {
            self.metadata.sync(host, &sites);
        }
    }
}
