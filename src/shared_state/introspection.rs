//! Introspection answers shared by every worker, and the one call per token that gets them.
//!
//! A token a worker has no answer for is looked up in shared data first: another worker may
//! have asked already. The answers live in a fixed number of slots per token service (a keyed
//! hash of the token picks the slot; the record names the full hash), so shared memory stays
//! bounded however many tokens clients send. When there is no answer, the worker that takes
//! the slot's lease by compare-and-swap makes the call; every other request for that token, on
//! any worker, waits for its answer. A failed call marks the service down for a short
//! back-off, during which new tokens are answered 503 at once instead of each waiting out a
//! timeout; tokens with kept answers are unaffected.

use super::hex;
use crate::capabilities::{Callout, Host, LogLevel};
use crate::engine::Engine;
use crate::providers::introspection::endpoint::BACKOFF_SECONDS;
use crate::providers::introspection::Introspector;
use crate::providers::Credential;
use std::cell::RefCell;
use std::collections::HashMap;

/// Shared answer slots per token service.
pub const SLOTS: u32 = 4096;

/// What a worker can do for a request that waits for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The answer is now kept on this worker: decide again.
    Installed,
    /// The token service is failing: decide without it (503).
    Unavailable,
    /// A call is under way, here or on another worker: hold the request.
    Waiting,
}

/// Something the counters record, for provider `.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A call was made.
    Called(usize),
    /// An answer came from another worker's call.
    Shared(usize),
    /// A call was answered: active (`true`) or not.
    Answered(usize, bool),
    /// A call failed: no answer, or not one.
    Failed(usize),
    /// The issuer's metadata was read (`true`) or could not be.
    Discovered(usize, bool),
}

/// A call in flight.
struct InFlight {
    provider: usize,
    hash: [u8; 32],
    slot: u32,
    lease: String,
    token: Credential,
    /// The request whose context made the call (`None`: the worker's own context). The SDK
    /// delivers the answer to that context, so when the request ends first, the answer is lost.
    owner: Option<u32>,
}

/// This worker's side of the shared answers.
#[derive(Default)]
pub struct Introspections {
    calls: RefCell<HashMap<u32, InFlight>>,
    /// Metadata calls in flight, see [`discovery`].
    metadata: crate::shared_state::discovery::MetadataCalls,
}

fn slot_of(hash: &[u8; 32]) -> u32 {
    u32::from_le_bytes([hash[0], hash[1], hash[2], hash[3]]) % SLOTS
}

/// The shared-data key of `what` (`answer`, `lease`) in `slot` of service `source`, or of the
/// service's down mark (`down`, no slot).
fn key(what: &str, source: &str, slot: Option<u32>) -> String {
    match slot {
        Some(s) => format!("authgate.introspection.{what}.{source}.{s}"),
        None => format!("authgate.introspection.{what}.{source}"),
    }
}

/// `"<until>\n<hash>\n<answer>"` → (until, answer) when the record is `hash`'s.
fn read_record<'a>(record: &'a [u8], hash: &str) -> Option<(u64, &'a [u8])> {
    let mut parts = record.splitn(3, |&b| b == b'\n');
    let until = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    if parts.next()? != hash.as_bytes() {
        return None;
    }
    Some((until, parts.next()?))
}

impl Introspections {
    /// For a new configuration: calls made under the old one are no longer awaited, and the
    /// lease record of every slot exists. Envoy has no "create if absent": two workers that
    /// both find a slot's record missing at its first use would both write one, the second
    /// over the first's lease, and both would call (seen: two calls for one token, 1 run in
    /// 6). Created here, before any request, a lease is only ever taken by compare-and-swap.
    pub fn configure(&self, host: &dyn Host, engine: &Engine) {
        self.calls.borrow_mut().clear();
        self.metadata.clear();
        for p in &engine.config().providers {
            let Some(service) = p.check.introspection() else {
                continue;
            };
            let source = service.source();
            for slot in 0..SLOTS {
                let lease = key("lease", source, Some(slot));
                if host.shared_get(&lease).is_some_and(|s| s.value.is_none()) {
                    let _ = host.shared_set(&lease, b"0", None);
                }
            }
        }
    }

    /// A request ended: the calls its context made will never be answered here, so they are
    /// forgotten and their leases freed; requests still waiting make them again (from the
    /// worker's own context, on the next tick).
    pub fn abandon(&self, host: &dyn Host, owner: u32) {
        self.calls.borrow_mut().retain(|_, c| {
            if c.owner != Some(owner) {
                return true;
            }
            let _ = host.shared_set(&c.lease, b"0", None);
            false
        });
    }

    /// What can be done now for `token`, which provider `i` has no answer for; a call made
    /// now is made from `owner`'s context (`None`: the worker's own).
    pub fn lookup(
        &self,
        host: &dyn Host,
        engine: &Engine,
        (i, token): (usize, &Credential),
        owner: Option<u32>,
    ) -> (Lookup, Option<Event>) {
        let Some((name, service)) = engine
            .config()
            .providers
            .get(i)
            .and_then(|p| Some((p.name.as_str(), p.check.introspection()?)))
        else {
            return (Lookup::Unavailable, None);
        };
        let source = service.source();
        let hash = engine.shared_hash(source, token.expose());
        let slot = slot_of(&hash);
        let now_ms = host.now_ms();
        let now = now_ms / 1000;
        let shared = |host: &dyn Host| {
            let record = host
                .shared_get(&key("answer", source, Some(slot)))
                .and_then(|s| s.value)?;
            let (until, body) = read_record(&record, &hex(&hash))?;
            let answer = Introspector::read(Some("200"), body).ok()?;
            (now <= until).then_some((answer, until))
        };
        if let Some((answer, until)) = shared(host) {
            engine.install_answer(i, token, &answer, until, now);
            return (Lookup::Installed, Some(Event::Shared(i)));
        }
        if self.calls.borrow().values().any(|c| c.hash == hash) {
            return (Lookup::Waiting, None);
        }
        if super::is_down(host, &key("down", source, None), now_ms) {
            return (Lookup::Unavailable, None);
        }
        let Some(endpoint) = service.endpoint() else {
            // Discovery has not found the endpoint yet: the tick reads the metadata.
            return (Lookup::Waiting, None);
        };
        let lease = key("lease", source, Some(slot));
        let until_ms = now_ms + service.timeout_ms + 1000;
        if !super::take_lease(host, &lease, now_ms, until_ms) {
            return (Lookup::Waiting, None);
        }
        // The worker that held the lease may have published its answer between the look
        // above and the lease: look again before asking the service a second time.
        if let Some((answer, until)) = shared(host) {
            let _ = host.shared_set(&lease, b"0", None);
            engine.install_answer(i, token, &answer, until, now);
            return (Lookup::Installed, Some(Event::Shared(i)));
        }
        let body = service.body(token.expose());
        let call = Callout {
            cluster: &service.cluster,
            scheme: Callout::scheme_of(&endpoint.url),
            headers: service.headers(&endpoint),
            body: Some(&body),
            timeout_ms: service.timeout_ms,
        };
        match host.dispatch(&call) {
            Ok(id) => {
                self.calls.borrow_mut().insert(
                    id,
                    InFlight {
                        provider: i,
                        hash,
                        slot,
                        lease,
                        token: token.clone(),
                        owner,
                    },
                );
                (Lookup::Waiting, Some(Event::Called(i)))
            }
            Err(status) => {
                host.log(
                    LogLevel::Error,
                    &format!(
                        "authgate: provider {name}: cannot call cluster {} for introspection: {status}",
                        service.cluster
                    ),
                );
                super::mark_down(host, &key("down", source, None), now_ms, BACKOFF_SECONDS);
                let _ = host.shared_set(&lease, b"0", None);
                (Lookup::Unavailable, Some(Event::Failed(i)))
            }
        }
    }

    /// The answer to call `id` (`status` `None`: no answer): kept here, published for the
    /// other workers, or logged as a failure that marks the service down. `None` when the
    /// call was not one of ours.
    pub fn on_response(
        &self,
        host: &dyn Host,
        engine: &Engine,
        id: u32,
        status: Option<&str>,
        body: &[u8],
    ) -> Option<Event> {
        if let Some(read) = self.on_metadata(host, engine, id, status, body) {
            return read;
        }
        let call = self.calls.borrow_mut().remove(&id)?;
        let i = call.provider;
        let p = engine.config().providers.get(i)?;
        let service = p.check.introspection()?;
        let source = service.source();
        let now_ms = host.now_ms();
        let now = now_ms / 1000;
        let event = match Introspector::read(status, body) {
            Ok(answer) => {
                let until = service.until(&answer, now);
                engine.install_answer(i, &call.token, &answer, until, now);
                let mut record = format!("{until}\n{}\n", hex(&call.hash)).into_bytes();
                record.extend_from_slice(body);
                let _ = host.shared_set(&key("answer", source, Some(call.slot)), &record, None);
                Some(Event::Answered(i, answer.active))
            }
            Err(why) => {
                host.log(
                    LogLevel::Error,
                    &format!(
                        "authgate: provider {}: introspection at {} (cluster {}) failed: {why}; new tokens are answered 503 for {BACKOFF_SECONDS} s",
                        p.name, service.label(), service.cluster
                    ),
                );
                super::mark_down(host, &key("down", source, None), now_ms, BACKOFF_SECONDS);
                Some(Event::Failed(i))
            }
        };
        // The lease goes only once the answer (or the back-off) is published: released first,
        // another worker could take it in between, find no answer, and ask again.
        let _ = host.shared_set(&call.lease, b"0", None);
        event
    }
}

mod discovery;
#[cfg(test)]
mod tests;
