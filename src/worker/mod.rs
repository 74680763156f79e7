//! One Envoy worker's filter state and its events, as plain Rust over the [`Host`] trait:
//! configure, a request's headers, the tick, an HTTP call's answer. The wasm adapter only
//! translates host callbacks into these calls and applies what they return; every choice
//! (throttling, holding a request for its keys, releasing it, counting, logging) is made here.

mod accounting;
mod answers;
mod assertion;
mod exchange;
mod mcp;
mod sign_in;
mod signatures;
pub use signatures::signature_path;
#[cfg(test)]
mod tests;

pub use accounting::{Counters, Seen};
pub use mcp::Answer;

use crate::audit::AuditLimiter;
use crate::capabilities::{Host, LogLevel};
use crate::engine::{Awaited, Decision, Engine, Verdict};
use crate::metrics::Catalog;
use crate::providers::Need;
use crate::request::{HeaderPairs, RequestView, WithPeer};
use crate::shared_state::audit_key;
use crate::shared_state::exchange::Exchanges;
use crate::shared_state::introspection::{Introspections, Lookup};
use crate::shared_state::jwks::JwksFetches;
use crate::shared_state::replay;
use crate::shared_state::throttle::{counts_as_failure, ClientSlot};
use signatures::signature_line;
use std::cell::RefCell;
use std::rc::Rc;

/// How often a worker looks at shared key sets, held requests and due fetches (ms).
pub const TICK_MS: u64 = 50;
/// How often counters reach the host when there is no remote key set to watch (ms).
pub const METRICS_TICK_MS: u64 = 200;

/// Verdicts reached for held requests, by request id.
pub type Verdicts = Vec<(u32, Verdict)>;

/// What to do with a request whose headers arrived.
// As `Verdict`: a pass is the common case, and unboxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Step {
    /// Carry out the verdict now.
    Decided(Verdict),
    /// Hold the request; its decision comes later from [`Worker::on_tick`] or
    /// [`Worker::on_http_call_response`].
    Held,
    /// Read the body (up to [`crate::mcp::jsonrpc::MAX_BODY`] bytes) and hand it to
    /// [`Worker::on_request_body`].
    ReadBody,
    /// No valid configuration: refuse the request (fail closed).
    Unconfigured,
}

/// A configuration in force, with its counters.
struct Configured {
    engine: Engine,
    counters: Counters,
    /// A provider binds tokens to the connection's client certificate.
    needs_peer: bool,
    /// A provider checks DPoP proofs, whose `htu` names the connection's scheme.
    needs_tls: bool,
}

/// A request as the worker keeps it between events: its headers, what its connection said,
/// and its body's MCP message once read.
pub(crate) struct Incoming {
    pub(crate) id: u32,
    pub(crate) headers: HeaderPairs,
    pub(crate) peer: Option<String>,
    pub(crate) tls: Option<bool>,
    pub(crate) mcp: Option<crate::mcp::Read>,
}

impl Incoming {
    /// The request as the engine reads it.
    pub(crate) fn view(&self) -> WithPeer<'_> {
        WithPeer {
            view: &self.headers,
            peer_certificate_sha256: self.peer.clone(),
            connection_tls: self.tls,
            mcp: self.mcp.as_ref(),
        }
    }
}

/// A request held until what its provider needs arrives (a key set, an introspection answer).
struct Held {
    deadline_ms: u64,
    request: Incoming,
    client: String,
}

/// The state of one worker; the adapter keeps one and shares it with its request contexts.
#[derive(Default)]
pub struct Worker {
    current: RefCell<Option<Rc<Configured>>>,
    audit: std::sync::Arc<AuditLimiter>,
    held: RefCell<Vec<Held>>,
    /// Verdicts reached for held requests, until their hosts carry them out (a host may do so
    /// later, from the request's own context: the driver's `resume`).
    parked: RefCell<Vec<(u32, Verdict)>>,
    fetches: JwksFetches,
    introspections: Introspections,
    exchanges: Exchanges,
    sign_ins: sign_in::SignIns,
    mcp: mcp::Bodies,
    answers: answers::AnswerHeaders,
    /// The request whose context the host is running (`None`: the worker's own), which owns
    /// the calls made now.
    context: std::cell::Cell<Option<u32>>,
}

impl Worker {
    /// A worker whose audit lines are limited (and summarised) together with other workers'.
    pub fn sharing_audit(audit: std::sync::Arc<AuditLimiter>) -> Worker {
        Worker {
            audit,
            ..Worker::default()
        }
    }

    /// Applies a plugin configuration. `Some(tick period in ms)` when it is accepted; when it
    /// is refused, one log line names the field and the reason and the old one stays.
    pub fn configure(&self, host: &dyn Host, bytes: &[u8]) -> Option<u64> {
        let signatures = signature_path(host);
        let env = |name: &str| host.env_var(name);
        let engine = match Engine::from_json_with(
            bytes,
            host.random_key(),
            signatures.clone(),
            &env,
            host.random(),
        ) {
            Ok(engine) => engine,
            Err(e) => {
                host.log(LogLevel::Error, &e.to_string());
                return None;
            }
        };
        if engine
            .config()
            .providers
            .iter()
            .any(|p| p.check.has_public_keys())
        {
            host.log(LogLevel::Info, &signature_line(signatures.as_ref()));
        }
        for p in &engine.config().providers {
            for w in p.check.warnings() {
                host.log(
                    LogLevel::Warn,
                    &format!("authgate: provider {}: {w}", p.name),
                );
            }
        }
        if let Some(old) = self.current.borrow().as_ref() {
            old.counters.flush(host);
        }
        let counters = Counters::define(host, Catalog::new(engine.config()));
        audit_key::sync(host, &engine);
        self.fetches.configure();
        self.introspections.configure(host, &engine);
        self.exchanges.configure(host, &engine);
        let remote = engine.remote_jwks().count() > 0
            || engine
                .config()
                .providers
                .iter()
                .any(|p| p.check.introspection().is_some());
        let needs_peer = engine
            .config()
            .providers
            .iter()
            .any(|p| p.check.needs_peer_certificate());
        let needs_tls = engine
            .config()
            .providers
            .iter()
            .any(|p| p.check.binding().is_some_and(|b| b.dpop.is_some()));
        if needs_tls {
            replay::prepare(host);
        }
        *self.current.borrow_mut() = Some(Rc::new(Configured {
            engine,
            counters,
            needs_peer,
            needs_tls,
        }));
        // With a remote key set, the first fetch starts on the first tick, not here: Envoy
        // also configures a short-lived base VM whose calls would never be answered. Held
        // requests (key sets, introspection) are looked at on every tick.
        Some(if remote { TICK_MS } else { METRICS_TICK_MS })
    }

    fn current(&self) -> Option<Rc<Configured>> {
        self.current.borrow().clone()
    }

    /// Decides on request `id` from its headers.
    pub fn on_request_headers(&self, host: &dyn Host, id: u32, headers: HeaderPairs) -> Step {
        self.context.set(Some(id));
        let Some(c) = self.current() else {
            return Step::Unconfigured;
        };
        let peer = c
            .needs_peer
            .then(|| host.peer_certificate_sha256())
            .flatten();
        let tls = c.needs_tls.then(|| host.connection_tls()).flatten();
        self.decide_request(
            host,
            &c,
            Incoming {
                id,
                headers,
                peer,
                tls,
                mcp: None,
            },
        )
    }

    /// Decides on `r`: throttled, decided, held for something remote, or (for a rule with
    /// `match.mcp`) kept until its body is read.
    fn decide_request(&self, host: &dyn Host, c: &Configured, r: Incoming) -> Step {
        let (engine, id) = (&c.engine, r.id);
        let now = host.now_ms();
        let throttle = engine.config().throttle.map(|t| {
            let client = host.client_address();
            let ip = crate::throttle::client_ip(&client).to_string();
            let slot = ClientSlot::new(&ip, engine.throttle_slot(&ip));
            (t, client, slot)
        });
        let client = throttle.as_ref().map(|(_, c, _)| c.as_str());
        let view = r.view();
        let seen = Seen {
            view: &view,
            now,
            client,
        };
        if let Some((t, _, slot)) = &throttle {
            if let Some(wait) = slot.blocked(host, t, now / 1000) {
                let decision = engine.throttled(&view, wait);
                c.counters
                    .account(host, engine, &self.audit, &decision, &seen);
                return Step::Decided(verdict(decision, &view));
            }
        }
        let decision = self.settle(host, c, &view, now, false);
        if let Some((t, _, slot)) = &throttle {
            if counts_as_failure(&decision) {
                slot.record_failure(host, t, now / 1000);
            }
        }
        c.counters
            .account(host, engine, &self.audit, &decision, &seen);
        let awaited = match decision {
            Decision::Wait(awaited) => awaited,
            Decision::ReadBody if r.mcp.is_none() => {
                self.mcp.read_body(r, now);
                return Step::ReadBody;
            }
            // Read once; asked again, refuse rather than loop.
            Decision::ReadBody => return Step::Unconfigured,
            decision => {
                let verdict = verdict(decision, &view);
                drop(view);
                self.answers.note(&verdict, r.id);
                self.mcp.decided(&verdict, r);
                return Step::Decided(verdict);
            }
        };
        if let Need::SignIn(exchange) = &awaited.need {
            let sent =
                self.sign_ins
                    .send(host, engine, (id, awaited.provider), exchange, now / 1000);
            if let Err(decision) = sent {
                return Step::Decided(verdict(*decision, &view));
            }
        }
        let client = client.map_or_else(|| host.client_address(), str::to_string);
        drop(view);
        self.held.borrow_mut().push(Held {
            deadline_ms: now + wait_ms(engine, &awaited),
            request: r,
            client,
        });
        Step::Held
    }

    /// Decides, and for a token the worker has no introspection answer for, finds one (from
    /// another worker), starts the call, or gives up when the token service is failing.
    /// `expired`: the request waited long enough; decide without waiting.
    /// A pass with a DPoP proof is final only once the replay cache has not seen the proof.
    fn settle(
        &self,
        host: &dyn Host,
        c: &Configured,
        view: &dyn RequestView,
        now_ms: u64,
        expired: bool,
    ) -> Decision {
        match self.settle_wait(host, c, view, now_ms, expired) {
            d @ Decision::Wait(_) => d,
            d => replay::enforce(host, &c.engine, view, d, now_ms / 1000),
        }
    }

    fn settle_wait(
        &self,
        host: &dyn Host,
        c: &Configured,
        view: &dyn RequestView,
        now_ms: u64,
        expired: bool,
    ) -> Decision {
        let (engine, now) = (&c.engine, now_ms / 1000);
        if expired {
            let decision = engine.decide_now(view, now);
            let decision = self.exchanged(host, c, view, decision, true);
            return assertion::asserted(host, c, view, decision);
        }
        let mut decision = engine.decide(view, now);
        // Each round settles one provider's token; a rule has at most every provider.
        for _ in 0..engine.config().providers.len() {
            let Decision::Wait(Awaited {
                provider,
                need: Need::Introspection(token),
            }) = &decision
            else {
                break;
            };
            let (lookup, event) =
                self.introspections
                    .lookup(host, engine, (*provider, token), self.context.get());
            if let Some(e) = event.and_then(|e| c.counters.catalog().for_introspection(e)) {
                c.counters.add(e, 1);
            }
            decision = match lookup {
                Lookup::Installed => engine.decide(view, now),
                Lookup::Unavailable => engine.decide_now(view, now),
                Lookup::Waiting => break,
            };
        }
        let decision = self.exchanged(host, c, view, decision, false);
        assertion::asserted(host, c, view, decision)
    }

    /// For tools (`authgate explain`): what the decision on `view` at `now_ms` looks at.
    pub fn explain(
        &self,
        view: &dyn RequestView,
        now_ms: u64,
    ) -> Option<crate::engine::Explanation> {
        Some(self.current()?.engine.explain(view, now_ms / 1000))
    }

    /// For tools (`authgate explain --jwks`): installs a key set in every provider that
    /// fetches one remotely. Per provider: its name, and how many keys or why not.
    pub fn install_keys(&self, body: &[u8], now_s: u64) -> Vec<(String, Result<usize, String>)> {
        let Some(c) = self.current() else {
            return Vec::new();
        };
        let remote: Vec<(usize, String)> = c
            .engine
            .remote_jwks()
            .map(|(i, name, _)| (i, name.to_string()))
            .collect();
        remote
            .into_iter()
            .map(|(i, name)| (name, c.engine.install_jwks(i, body, now_s)))
            .collect()
    }

    /// The remote key sets this worker has no keys for yet, and the longest time one of their
    /// fetches may take (ms): what a host's readiness waits for. `None` when every key set is
    /// in (or none is remote).
    pub fn keys_awaited(&self) -> Option<(usize, u64)> {
        let c = self.current()?;
        let (mut n, mut longest) = (0, 0);
        for (_, _, remote) in c.engine.remote_jwks() {
            if remote.keys().is_none() {
                n += 1;
                longest = longest.max(remote.timeout_ms);
            }
        }
        (n > 0).then_some((n, longest))
    }

    /// Hands the pending counts to the host now: for a host with no tick (the native module
    /// flushes after each decision; its counters are atomic, so batching buys nothing).
    pub fn flush_counters(&self, host: &dyn Host) {
        if let Some(c) = self.current() {
            c.counters.flush(host);
        }
    }

    /// The headers the answer to request `id` gets (a DPoP server nonce), once: the adapter
    /// adds them as the upstream's answer headers pass.
    pub fn answer_headers(&self, id: u32) -> Vec<(String, String)> {
        self.answers.take(id)
    }

    /// Whether request `id` is held for its decision: waiting, or decided and not yet carried
    /// out.
    pub fn holds(&self, id: u32) -> bool {
        self.held.borrow().iter().any(|h| h.request.id == id)
            || self.parked.borrow().iter().any(|(i, _)| *i == id)
    }

    /// Keeps verdicts reached for held requests until their hosts carry them out; the ids to
    /// wake.
    pub fn park(&self, decided: Vec<(u32, Verdict)>) -> Vec<u32> {
        let ids = decided.iter().map(|(id, _)| *id).collect();
        self.parked.borrow_mut().extend(decided);
        ids
    }

    /// The verdict parked for request `id`, if one was reached; it is no longer held.
    pub fn take_parked(&self, id: u32) -> Option<Verdict> {
        let mut p = self.parked.borrow_mut();
        let i = p.iter().position(|(i, _)| *i == id)?;
        Some(p.swap_remove(i).1)
    }

    /// Request `id` ended (or was reset): forget it if it was held, and the calls its context
    /// made, whose answers can no longer arrive.
    pub fn on_request_done(&self, host: &dyn Host, id: u32) {
        self.held.borrow_mut().retain(|h| h.request.id != id);
        self.parked.borrow_mut().retain(|(i, _)| *i != id);
        self.mcp.forget(id);
        self.answers.forget(id);
        self.introspections.abandon(host, id);
        self.exchanges.abandon(host, id);
        self.sign_ins.abandon(id);
    }

    /// The periodic tick: the audit summary, the shared fingerprint key, key sets other workers
    /// fetched and fetches that are due, held requests whose keys arrived or whose time is up,
    /// and the counters. Returns the held requests decided now.
    pub fn on_tick(&self, host: &dyn Host) -> Vec<(u32, Verdict)> {
        self.context.set(None);
        let Some(c) = self.current() else {
            return Vec::new();
        };
        let config = c.engine.config();
        let summary = self
            .audit
            .summary(config.audit_lines_per_second, host.now_ms());
        if let Some(n) = summary {
            host.log(
                LogLevel::Warn,
                &crate::audit::suppressed_line(
                    n,
                    config.audit_lines_per_second,
                    config.audit_format,
                ),
            );
        }
        audit_key::sync(host, &c.engine);
        self.fetches.sync_and_fetch(host, &c.engine);
        self.introspections.sync(host, &c.engine);
        self.exchanges.sync(host, &c.engine);
        let mut released = self.release(host, &c);
        released.extend(self.bodies_overdue(host, &c));
        c.counters.flush(host);
        released
    }

    /// The answer to HTTP call `token` (`status` `None`: no answer), delivered in `context`
    /// (the request whose context made the call; `None`: the worker's own). Returns the held
    /// requests decided now.
    pub fn on_http_call_response(
        &self,
        host: &dyn Host,
        (token, context): (u32, Option<u32>),
        status: Option<&str>,
        body: &[u8],
    ) -> Vec<(u32, Verdict)> {
        self.context.set(context);
        let Some(c) = self.current() else {
            return Vec::new();
        };
        if let Some((id, decision, provider, outcome)) =
            self.sign_ins
                .on_response(&c.engine, token, status, body, host.now_ms() / 1000)
        {
            let held = std::mem::take(&mut *self.held.borrow_mut());
            let (done, rest): (Vec<Held>, Vec<Held>) =
                held.into_iter().partition(|h| h.request.id == id);
            *self.held.borrow_mut() = rest;
            let now = host.now_ms();
            for h in &done {
                let view = h.request.view();
                let seen = Seen {
                    view: &view,
                    now,
                    client: Some(&h.client),
                };
                c.counters
                    .sign_in_line(host, &c.engine, &self.audit, (&provider, &outcome), &seen);
                c.counters
                    .account(host, &c.engine, &self.audit, &decision, &seen);
            }
            return done
                .iter()
                .map(|h| (id, verdict(decision.clone(), &h.request.view())))
                .collect();
        }
        if let Some(event) = self
            .exchanges
            .on_response(host, &c.engine, token, status, body)
        {
            if let Some(i) = c.counters.catalog().for_exchange(event) {
                c.counters.add(i, 1);
            }
            return self.release(host, &c);
        }
        if let Some(event) = self
            .introspections
            .on_response(host, &c.engine, token, status, body)
        {
            if let Some(i) = c.counters.catalog().for_introspection(event) {
                c.counters.add(i, 1);
            }
            return self.release(host, &c);
        }
        let Some(fetched) = self
            .fetches
            .on_response(host, &c.engine, token, status, body)
        else {
            return Vec::new();
        };
        if let Some(i) = c.counters.catalog().for_jwks(fetched.provider, fetched.ok) {
            c.counters.add(i, 1);
            c.counters.flush(host);
        }
        if fetched.ok {
            self.release(host, &c)
        } else {
            Vec::new()
        }
    }

    /// Decides again for held requests: those whose keys or answers arrived, and those out of
    /// time. Refused credentials count towards the throttle here too.
    fn release(&self, host: &dyn Host, c: &Configured) -> Vec<(u32, Verdict)> {
        let now = host.now_ms();
        let held = std::mem::take(&mut *self.held.borrow_mut());
        let mut out = Vec::new();
        for mut h in held {
            // A callback waiting for its token request is decided by the answer, or by its
            // deadline: then the page that says the sign-in service did not answer.
            if self.sign_ins.waits(h.request.id) && now < h.deadline_ms {
                self.held.borrow_mut().push(h);
                continue;
            }
            let view = h.request.view();
            let decision = self.settle(host, c, &view, now, now >= h.deadline_ms);
            drop(view);
            let decision = match decision {
                Decision::Wait(awaited) => {
                    // A callback held for the issuer's metadata and keys, which came: now its
                    // token request goes out (before, it waited out its deadline unsent, and
                    // got the 503 "Sign-in is unavailable").
                    let sent = match &awaited.need {
                        Need::SignIn(exchange) => {
                            let to = (h.request.id, awaited.provider);
                            Some(
                                self.sign_ins
                                    .send(host, &c.engine, to, exchange, now / 1000),
                            )
                        }
                        _ => None,
                    };
                    match sent {
                        Some(Err(decision)) => *decision,
                        Some(Ok(())) => {
                            h.deadline_ms = now + wait_ms(&c.engine, &awaited);
                            self.held.borrow_mut().push(h);
                            continue;
                        }
                        None => {
                            self.held.borrow_mut().push(h);
                            continue;
                        }
                    }
                }
                decision => decision,
            };
            if let Some(t) = &c.engine.config().throttle {
                if counts_as_failure(&decision) {
                    let ip = crate::throttle::client_ip(&h.client);
                    ClientSlot::new(ip, c.engine.throttle_slot(ip)).record_failure(
                        host,
                        t,
                        now / 1000,
                    );
                }
            }
            let view = h.request.view();
            let seen = Seen {
                view: &view,
                now,
                client: Some(&h.client),
            };
            c.counters
                .account(host, &c.engine, &self.audit, &decision, &seen);
            let id = h.request.id;
            let verdict = verdict(decision, &view);
            drop(view);
            self.answers.note(&verdict, id);
            self.mcp.decided(&verdict, h.request);
            out.push((id, verdict));
        }
        out
    }
}

/// The verdict a host carries out. A decision that is still not final here — a request held
/// for its keys whose rule, decided again, needs its body — is answered 500 (gRPC: INTERNAL):
/// the body was let through to Envoy's buffer while it was held and is not read twice.
fn verdict(decision: Decision, view: &dyn RequestView) -> Verdict {
    decision.into_verdict().unwrap_or_else(|| {
        let grpc = crate::reply::is_grpc(view.header("content-type").as_deref());
        Verdict::Answer(Box::new(crate::reply::internal_error(grpc)))
    })
}

/// How long a request may wait for what it awaits (ms): the fetch or call timeout, and for
/// an introspection answer a little more, since the call's own timeout answers first.
fn wait_ms(engine: &Engine, awaited: &Awaited) -> u64 {
    let provider = engine.config().providers.get(awaited.provider);
    match &awaited.need {
        // With discovery two calls come one after the other (the metadata, then the key set),
        // and a failed one is tried again a second later: room for both and one retry.
        Need::Keys => provider
            .and_then(|p| p.check.remote_jwks())
            .map_or(1000, |r| match r.discovery {
                Some(_) => 2 * r.timeout_ms + crate::shared_state::jwks::RETRY_MS + 500,
                None => r.timeout_ms + 500,
            }),
        Need::Introspection(_) => provider
            .and_then(|p| p.check.introspection())
            .map_or(1000, |s| s.timeout_ms + 500),
        Need::SignIn(_) => provider
            .and_then(|p| p.check.remote_jwks())
            .map_or(1000, |r| r.timeout_ms + 500),
        Need::Exchange(timeout_ms) => timeout_ms + 500,
    }
}
