//! The decision: given a request and the time, find the rule, check what it requires, and
//! either allow (with header edits), deny (with a rendered reply), or wait (a remote key set
//! has not arrived yet). Split as Envoy's jwt_authn is: [`requirement`] checks a rule's
//! any/all requirement and says which failure wins, [`refusal`] turns a failure into a reply.
//! No host calls here; time comes in as a value.

mod explain;
mod refusal;
mod requirement;
mod sign_in;
#[cfg(test)]
mod tests;

use crate::config::{self, Config};
use crate::error::{ConfigError, Denial};
use crate::providers::jwt::remote::RemoteJwks;
use crate::providers::{HeaderEdits, Need};
use crate::reply::Reply;
use crate::request::{path_only, valid_authority, Request, RequestView};
use crate::rules::Rule;
pub use explain::{Explanation, Outcome};
use requirement::Unmet;
use std::cell::RefCell;

/// What to do with a request.
// As `Verdict`: a pass is the common case, and unboxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let it through after applying `edits` (remove, then set).
    Allow(Allowed),
    /// Answer locally; the request never goes upstream.
    Deny(Box<Refusal>),
    /// Answer locally with a reply that is not a refusal: the protected resource metadata
    /// document (RFC 9728), served by authgate itself.
    Answer(Box<Reply>),
    /// Hold the request: something remote a provider needs has not arrived yet. Decide again
    /// when it has, or with [`Engine::decide_now`] once the wait is over.
    Wait(Awaited),
    /// A rule with `match.mcp` may apply: read the body (up to [`crate::mcp::jsonrpc::MAX_BODY`]
    /// bytes) and decide again with it ([`crate::mcp::read`]).
    ReadBody,
}

/// A final decision: what a host carries out. The worker turns every [`Decision`] into one,
/// holding a request that waits and reading the body it needs first, so no host ever sees a
/// wait or a request for a body.
// A pass is the common case: boxing it would cost an allocation on every request let through.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through after applying `edits` (remove, then set).
    Allow(Allowed),
    /// Answer locally with a refusal; the request never goes upstream.
    Deny(Box<Refusal>),
    /// Answer locally with a reply that is not a refusal.
    Answer(Box<Reply>),
}

impl Decision {
    /// The verdict, when the decision is final (not a wait, not a request for the body).
    pub fn into_verdict(self) -> Option<Verdict> {
        match self {
            Decision::Allow(a) => Some(Verdict::Allow(a)),
            Decision::Deny(d) => Some(Verdict::Deny(d)),
            Decision::Answer(r) => Some(Verdict::Answer(r)),
            Decision::Wait(_) | Decision::ReadBody => None,
        }
    }
}

/// What a held request waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awaited {
    /// The provider (index) that waits.
    pub provider: usize,
    /// For what.
    pub need: Need,
}

/// A request let through, with what the audit log needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowed {
    /// Header edits for upstream.
    pub edits: HeaderEdits,
    /// Who was authenticated, when someone was.
    pub identity: Option<String>,
    /// The rule that decided.
    pub rule: String,
    /// The provider that authenticated, if one did.
    pub provider: Option<String>,
    /// The scopes the credential holds (tokens only): what the ext_authz service returns in
    /// its dynamic metadata.
    pub scopes: Vec<String>,
    /// The claims the credential carries (tokens and sessions), for the claims the ext_authz
    /// service is asked to return in its dynamic metadata.
    pub claims: Option<std::rc::Rc<serde_json::Map<String, serde_json::Value>>>,
    /// In report mode: what enforcing would have answered.
    pub would_deny: Option<Box<Refusal>>,
    /// A DPoP proof that checked out, still to be shown unused ([`Engine::replayed`]).
    pub proof: Option<crate::binding::dpop::ProofUse>,
    /// The request lists tools, prompts or resources, and the answer is to be cut down to
    /// what this caller may use ([`Engine::may_use`]).
    pub list: Option<crate::mcp::select::Kind>,
    /// The caller's token is still to be exchanged for one issued for the upstream: the pass
    /// is final only once it has been ([`Engine::exchange_failed`] when it cannot be).
    pub exchange: Option<ExchangeUse>,
    /// Who acts for the caller upstream: the client of the token exchange that issued the
    /// upstream's token (an assertion's `act`).
    pub act: Option<String>,
}

/// A token exchange a pass waits for: which one, and the caller's token it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeUse {
    /// The rule's or the resource's `token_exchange`.
    pub exchange: std::rc::Rc<crate::exchange::Exchange>,
    /// The caller's token (`subject_token`).
    pub subject: crate::providers::Credential,
}

/// A refusal: the reason ([`Denial`]), the reply that says it, and what the audit log needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub denial: Denial,
    /// The rule that decided (`rules[i]`, `default` or `throttle`).
    pub rule: String,
    /// The provider whose check failed, when one did.
    pub provider: Option<String>,
    /// A few hex digits of a keyed hash of the failed credential, to correlate attempts.
    pub fingerprint: Option<String>,
    /// The reply to send.
    pub reply: Reply,
}

/// How a request stands against the rules.
pub(super) enum Matched<'a> {
    /// This rule decides.
    Rule(&'a Rule),
    /// A rule with `match.mcp` may apply: the body must be read first.
    ReadBody,
    /// The body read for this rule is not one MCP message: refused as a bad request.
    BadBody(&'a Rule, crate::mcp::BodyError),
    /// No rule (not reached: the last rule matches everything).
    None,
}

/// A configured filter instance: one per Envoy worker.
pub struct Engine {
    config: Config,
    /// Keys credential fingerprints in audit lines; the same on every worker.
    audit_key: RefCell<[u8; 32]>,
}

impl Engine {
    /// An engine for a compiled configuration; `secret` keys fingerprints until the shared
    /// key is set.
    pub fn new(config: Config, secret: [u8; 32]) -> Self {
        Engine {
            config,
            audit_key: RefCell::new(secret),
        }
    }

    /// Parses, validates and compiles the plugin configuration; `secret` keys the per-worker
    /// caches.
    pub fn from_json(json: &[u8], secret: [u8; 32]) -> Result<Self, ConfigError> {
        Ok(Engine::new(config::compile(json, secret)?, secret))
    }

    /// [`Engine::from_json`], with the host's own signature verification, the Wasm VM's
    /// environment and the host's randomness.
    pub fn from_json_with(
        json: &[u8],
        secret: [u8; 32],
        signatures: Option<std::rc::Rc<dyn crate::crypto::HostSignatures>>,
        env: crate::capabilities::Env,
        random: Option<crate::capabilities::Random>,
    ) -> Result<Self, ConfigError> {
        Ok(Engine::new(
            config::compile_with(json, secret, signatures, env, random)?,
            secret,
        ))
    }

    /// The compiled configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sets the key of credential fingerprints (shared by all workers, so that the same
    /// credential has the same fingerprint everywhere).
    pub fn set_audit_key(&self, key: [u8; 32]) {
        *self.audit_key.borrow_mut() = key;
    }

    /// A few hex digits of a keyed hash of `credential`, to correlate attempts in audit lines.
    pub fn fingerprint(&self, credential: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(*self.audit_key.borrow());
        h.update(credential.as_bytes());
        let d = h.finalize();
        format!("{:02x}{:02x}{:02x}", d[0], d[1], d[2])
    }

    /// Decides what happens to one request at `now` (seconds since the epoch); may ask to
    /// wait for a remote key set.
    pub fn decide(&self, view: &dyn RequestView, now: u64) -> Decision {
        self.decide_inner(view, now, true)
    }

    /// Decides without waiting: a token whose keys have not arrived is refused.
    pub fn decide_now(&self, view: &dyn RequestView, now: u64) -> Decision {
        self.decide_inner(view, now, false)
    }

    fn decide_inner(&self, view: &dyn RequestView, now: u64, may_wait: bool) -> Decision {
        let req = Request::new(view);
        let mut allowed = self.allowed_base(view);
        // RFC 9112 §3.2: two `Host` lines (joined by Envoy) or an invalid one are a 400, before
        // a host rule, a DPoP `htu` or the resource's advertisement could read them.
        if self.bad_authority(&req) {
            return self.refuse(
                &req,
                None,
                requirement::Failure::of(Denial::BadAuthority),
                allowed,
            );
        }
        let method = req.method();
        let path = match self.path_to_match(&req, &method) {
            Ok(path) => path,
            Err(why) => {
                let failure = requirement::Failure::of(Denial::InvalidRequest(why));
                return self.refuse(&req, None, failure, allowed);
            }
        };
        let path = path.as_str();
        if let Some(r) = self
            .config
            .resources
            .document_at(req.authority().as_deref(), path)
        {
            return Decision::Answer(Box::new(r.answer(&method)));
        }
        if let Some(a) = self
            .config
            .assertion
            .as_ref()
            .filter(|a| a.jwks_path == path)
        {
            // Keys rotate: caches may keep the set five minutes, no longer.
            let answer = crate::reply::public_document(&a.jwks, &method, 300);
            return Decision::Answer(Box::new(answer));
        }
        if let Some(d) = self.sign_in_path(&req, path, now, may_wait) {
            return d;
        }
        if self.config.allow_cors_preflight
            && method == "OPTIONS"
            && req.header("origin").is_some()
            && req.header("access-control-request-method").is_some()
        {
            allowed.rule = "cors-preflight".into();
            return Decision::Allow(allowed);
        }
        let rule = match self.find_rule(&req, &method, path) {
            Matched::Rule(rule) => rule,
            Matched::ReadBody => return Decision::ReadBody,
            Matched::BadBody(rule, why) => {
                allowed.rule = rule.label.clone();
                let jsonrpc = match &why {
                    // MCP clients read this 400 as a JSON-RPC error (MCP 2026-07-28,
                    // streamable HTTP: -32020 HeaderMismatch), for the request's id.
                    crate::mcp::BodyError::HeaderMismatch(id) => {
                        Some(Box::new(crate::reply::JsonRpcError {
                            id: id.clone(),
                            code: crate::reply::HEADER_MISMATCH,
                            message:
                                "Header mismatch: Mcp-Method or Mcp-Name does not match the body",
                        }))
                    }
                    _ => None,
                };
                let failure = requirement::Failure {
                    jsonrpc,
                    ..requirement::Failure::of(Denial::InvalidRequest(why.reason()))
                };
                return self.refuse(&req, Some(rule), failure, allowed);
            }
            Matched::None => {
                // Unreachable: the last rule matches everything. Refuse rather than trust that.
                let failure = requirement::Failure::of(Denial::MissingCredentials);
                return self.refuse(&req, self.config.rules.last(), failure, allowed);
            }
        };
        allowed.rule = rule.label.clone();
        allowed.list = self.list_to_cut(&req);
        match requirement::check(self, &req, rule, now) {
            Ok(Some(auth)) => {
                allowed.edits.extend(auth.accepted.edits);
                allowed.identity = auth.accepted.identity;
                allowed.scopes = auth.accepted.scopes;
                allowed.claims = auth.accepted.claims;
                allowed.proof = auth.accepted.proof;
                allowed.exchange = self.exchange_of(&req, rule, path, auth.provider);
                allowed.provider = self
                    .config
                    .providers
                    .get(auth.provider)
                    .map(|p| p.name.clone());
                Decision::Allow(allowed)
            }
            Ok(None) => Decision::Allow(allowed),
            Err(Unmet::Pending(provider, need)) if may_wait => {
                Decision::Wait(Awaited { provider, need })
            }
            Err(Unmet::Pending(i, _)) => {
                let Some(p) = self.config.providers.get(i) else {
                    let failure = requirement::Failure::of(Denial::MissingCredentials);
                    return self.refuse(&req, Some(rule), failure, allowed);
                };
                let failure = requirement::Failure {
                    provider: Some(i),
                    ..requirement::Failure::of(p.check.gave_up())
                };
                self.refuse(&req, Some(rule), failure, allowed)
            }
            Err(Unmet::Refused(failure)) => {
                if let Some(d) = self.sign_in_instead(&req, rule, &failure, now, may_wait) {
                    return d;
                }
                self.refuse(&req, Some(rule), failure, allowed)
            }
        }
    }

    /// The path rules match `req` on: its normal form. Where a rule reads the path, a path
    /// with no one reading is refused, and so is one with dot segments (servers that keep them
    /// route `/admin/..` under `/admin`; clients resolve them before they send) or with `;`
    /// parameters that would put it under another rule for servers that cut them
    /// (`/admin;x` is `/admin` to Tomcat, Jetty and Spring).
    pub(super) fn path_to_match(
        &self,
        req: &Request,
        method: &str,
    ) -> Result<String, &'static str> {
        let path_and_query = req.path_and_query();
        let raw = path_only(&path_and_query);
        let normal = match crate::path::normal(raw) {
            Ok(n) => n,
            Err(why) if self.config.reads_path => return Err(why.reason()),
            Err(_) => return Ok(raw.to_string()),
        };
        if !self.config.reads_path {
            return Ok(normal.path.into_owned());
        }
        if normal.had_dots {
            return Err(
                "the path has dot segments (`.` or `..`), which servers resolve in different ways",
            );
        }
        if normal.path.contains(';') {
            let cut = crate::path::without_params(&normal.path);
            let cut = crate::path::normal(&cut).map(|n| n.path.into_owned());
            let first = |path: &str| {
                self.config
                    .rules
                    .iter()
                    .position(|r| r.matches(req, method, path))
            };
            if cut.map_or(true, |c| first(&c) != first(&normal.path)) {
                return Err("a `;` parameter in the path would put it under another rule for servers that cut parameters (Tomcat, Jetty, Spring)");
            }
        }
        Ok(normal.path.into_owned())
    }

    /// Whether something reads `req`'s authority and it is not one valid `host[:port]`.
    pub(super) fn bad_authority(&self, req: &Request) -> bool {
        self.config.reads_authority && req.authority().is_some_and(|a| !valid_authority(&a))
    }

    /// The first rule that matches `method` on `path` (query removed) of `req`. A rule with
    /// `match.mcp` that may apply needs the body; a body that is not one MCP message (or whose
    /// mirrored headers disagree with it) matches no rule: it is refused.
    pub(super) fn find_rule(&self, req: &Request, method: &str, path: &str) -> Matched<'_> {
        for r in &self.config.rules {
            if !r.matches(req, method, path) {
                continue;
            }
            match (r.reads_body(method), req.mcp()) {
                (Some(false), _) => return Matched::Rule(r),
                (None, _) => continue,
                (Some(true), None) => return Matched::ReadBody,
                (Some(true), Some(Err(why))) => return Matched::BadBody(r, why.clone()),
                (Some(true), Some(Ok(message))) => {
                    let Some(m) = r.mcp.as_ref() else {
                        continue;
                    };
                    if m.matches(message) {
                        return Matched::Rule(r);
                    }
                    if m.needs_missing_name(message) {
                        return Matched::BadBody(r, crate::mcp::BodyError::Unnamed);
                    }
                }
            }
        }
        Matched::None
    }

    /// The rule that decides `req`, once whatever it needed was read.
    pub(super) fn matching_rule(&self, req: &Request, method: &str, path: &str) -> Option<&Rule> {
        match self.find_rule(req, method, path) {
            Matched::Rule(r) | Matched::BadBody(r, _) => Some(r),
            Matched::ReadBody | Matched::None => None,
        }
    }

    /// The kind of list `req` asks for, when its answer is to be cut.
    fn list_to_cut(&self, req: &Request) -> Option<crate::mcp::select::Kind> {
        use crate::mcp::select::Kind;
        let Some(Ok(crate::mcp::Message::Call(call))) = req.mcp() else {
            return None;
        };
        let kind = Kind::listed_by(&call.method)?;
        self.config.mcp_lists.contains(&kind).then_some(kind)
    }

    /// Whether the caller of `view` (a list request) may use `name`, a `kind` the list
    /// answer holds, at `now`: the rules decide on the same request as if it were that use
    /// (`tools/call` of the tool). Only a clean pass counts (and with `mcp.show_step_up`, a
    /// refusal for scope alone); waiting counts as no.
    pub fn may_use(
        &self,
        view: &dyn RequestView,
        kind: crate::mcp::select::Kind,
        name: &str,
        now: u64,
    ) -> bool {
        let call = Ok(crate::mcp::Message::Call(crate::mcp::Call {
            method: kind.use_method().to_string(),
            name: Some(name.to_string()),
            id: None,
        }));
        let as_use = crate::request::WithPeer {
            view,
            peer_certificate_sha256: view.peer_certificate_sha256(),
            connection_tls: view.connection_tls(),
            mcp: Some(&call),
        };
        match self.decide_now(&as_use, now) {
            Decision::Allow(a) => a.would_deny.is_none(),
            Decision::Deny(d) => {
                self.config.mcp_show_step_up && matches!(d.denial, Denial::InsufficientScope(_))
            }
            _ => false,
        }
    }

    /// The first rule that matches `req`.
    fn rule_for(&self, req: &Request) -> Option<&Rule> {
        self.matching_rule(req, &req.method(), &req.path())
    }

    /// The refusal of a request whose DPoP proof (accepted by provider `provider`) was used
    /// before, or could not be shown unused: `why` says which.
    pub fn replayed(
        &self,
        view: &dyn RequestView,
        provider: Option<&str>,
        why: &'static str,
    ) -> Decision {
        let req = Request::new(view);
        let rule = self.rule_for(&req);
        let mut allowed = self.allowed_base(view);
        if let Some(r) = rule {
            allowed.rule = r.label.clone();
        }
        let failure = requirement::Failure {
            provider: provider.and_then(|n| self.config.providers.iter().position(|p| p.name == n)),
            scheme: Some(crate::reply::Scheme::DPoP),
            ..requirement::Failure::of(Denial::InvalidDpopProof(why))
        };
        self.refuse(&req, rule, failure, allowed)
    }

    /// The token exchange a pass on `rule` for `path`, by provider `provider`, needs: the
    /// rule's, else the one of the resource the request is under; none without a token to
    /// send. The token is read again from the request here, only where an exchange applies,
    /// rather than carried out of every check.
    fn exchange_of(
        &self,
        req: &Request,
        rule: &Rule,
        path: &str,
        provider: usize,
    ) -> Option<ExchangeUse> {
        let exchange = rule.exchange.clone().or_else(|| {
            self.config
                .resources
                .under(req.authority().as_deref(), path)
                .and_then(|r| r.exchange.clone())
        })?;
        // The provider that authenticated, else (with `all`) the rule's first token provider
        // that found one: with `{"all": ["keys", "idp"]}` the token is idp's.
        let others = match &rule.requires {
            crate::rules::Requirement::All(l) => l.as_slice(),
            _ => &[],
        };
        let auth_value = req.header("authorization");
        let auth = crate::authorization::Authorization::parse(auth_value.as_deref());
        let token = std::iter::once(&provider)
            .chain(others)
            .filter_map(|&i| self.config.providers.get(i))
            .filter(|p| p.check.has_scopes())
            .find_map(|p| match p.check.find(req, &auth) {
                crate::providers::Found::One(token, _) => Some(token),
                _ => None,
            })?;
        Some(ExchangeUse {
            exchange,
            subject: crate::providers::Credential::new(token),
        })
    }

    /// The refusal of a pass whose token could not be exchanged: `denial` says why (403
    /// `access_denied` when the server refused, 503 when it could not answer).
    pub fn exchange_failed(
        &self,
        view: &dyn RequestView,
        allowed: &Allowed,
        denial: Denial,
    ) -> Decision {
        let req = Request::new(view);
        let rule = self.rule_for(&req);
        // In report mode this passes, still without the caller's token: the pass's edits are
        // kept whole (the token hidden from a header, a query parameter or a cookie; the
        // identity, which was checked), only no token goes in its place.
        let mut base = Allowed {
            edits: allowed.edits.clone(),
            ..Allowed::default()
        };
        if let Some(r) = rule {
            base.rule = r.label.clone();
        }
        let failure = requirement::Failure {
            provider: allowed
                .provider
                .as_deref()
                .and_then(|n| self.config.providers.iter().position(|p| p.name == n)),
            ..requirement::Failure::of(denial)
        };
        self.refuse(&req, rule, failure, base)
    }

    /// A pass with no credential yet: identity headers a client sent are removed (each removal
    /// is a host call, so only the ones present; measured: one needless removal costs the
    /// valid-key path ~4 µs of worker CPU).
    pub(super) fn allowed_base(&self, view: &dyn RequestView) -> Allowed {
        let remove = self
            .config
            .identity_headers
            .iter()
            .filter(|h| view.has(h))
            .cloned()
            .collect();
        Allowed {
            edits: HeaderEdits {
                remove,
                ..HeaderEdits::default()
            },
            ..Allowed::default()
        }
    }

    /// The throttle's shared-data slot for a client address (keyed like fingerprints).
    pub fn throttle_slot(&self, client: &str) -> u32 {
        crate::throttle::slot(&self.audit_key.borrow(), client)
    }

    /// The providers with a remote key set: (index, name, remote).
    pub fn remote_jwks(&self) -> impl Iterator<Item = (usize, &str, &RemoteJwks)> {
        self.config
            .providers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.check.remote_jwks().map(|r| (i, p.name.as_str(), r)))
    }

    /// Keeps the token service's answer about `token` on provider `i` (see
    /// [`crate::providers::Provider::install_answer`]).
    pub fn install_answer(
        &self,
        i: usize,
        token: &crate::providers::Credential,
        answer: &crate::providers::introspection::Answer,
        until: u64,
        now: u64,
    ) {
        if let Some(p) = self.config.providers.get(i) {
            p.check.install_answer(token, answer, until, now);
        }
    }

    /// A keyed hash of `credential` within `domain` under the key every worker shares, so
    /// that workers find each other's records without any of them holding the credential.
    pub fn shared_hash(&self, domain: &str, credential: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(*self.audit_key.borrow());
        h.update((domain.len() as u64).to_le_bytes());
        h.update(domain.as_bytes());
        h.update(credential.as_bytes());
        h.finalize().into()
    }

    /// Installs a fetched key set for provider `i`; returns how many keys it holds. On error
    /// the last good key set stays in force.
    pub fn install_jwks(&self, i: usize, body: &[u8], fetched_at: u64) -> Result<usize, String> {
        let p = self.config.providers.get(i).ok_or("no such provider")?;
        p.check.install_jwks(body, fetched_at)
    }
}
