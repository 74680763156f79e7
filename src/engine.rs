//! The decision: given a request and the time, find the rule, find the credentials the rule
//! accepts, check them, and either allow (with header edits), deny (with a rendered reply),
//! or wait (a remote key set has not arrived yet). No host calls here; the adapter supplies
//! headers and time and applies the outcome.

use crate::authorization::Authorization;
use crate::config::{self, Check, Config, Mode};
use crate::error::{ConfigError, Denial};
use crate::providers::api_key::KeySource;
use crate::providers::basic::BasicCache;
use crate::providers::jwt::cache::TokenCache;
use crate::providers::jwt::remote::RemoteJwks;
use crate::providers::jwt::{extractor, JwtFail};
use crate::providers::{Found, Verified};
use crate::reply::{self, Reply, ReplyContext};
use crate::request::{path_only, Request, RequestView};
use crate::rules::{Requirement, Rule};
use std::cell::RefCell;

/// Entries per generation in the per-worker cache of bcrypt outcomes.
pub const BASIC_CACHE_CAPACITY: usize = 1024;
/// Entries per generation in the per-worker cache of verified tokens.
pub const TOKEN_CACHE_CAPACITY: usize = 1024;

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let it through after removing `edits.remove` and then setting `edits.set`.
    Allow(Allowed),
    /// Answer locally; the request never goes upstream.
    Deny(Box<Denied>),
    /// Hold the request: the remote key set of this provider (index) has not arrived yet.
    /// Decide again when it has, or with [`Engine::decide_now`] once the wait is over.
    Wait(usize),
}

/// A request let through, with what the audit log needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowed {
    /// Header edits: remove, then set.
    pub edits: Verified,
    /// The rule that decided.
    pub rule: String,
    /// The provider that authenticated, if one did.
    pub provider: Option<String>,
    /// In report mode: what enforcing would have answered.
    pub would_deny: Option<Box<Denied>>,
}

/// A refusal, with what the audit log needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// Why.
    pub denial: Denial,
    /// The rule that decided (`rules[i]` or `default`).
    pub rule: String,
    /// The provider whose check failed, when one did.
    pub provider: Option<String>,
    /// A few hex digits of a keyed hash of the failed credential, to correlate attempts.
    pub fingerprint: Option<String>,
    /// The reply to send.
    pub reply: Reply,
}

/// Cache use since the last [`Engine::take_cache_counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// bcrypt checks answered from the cache.
    pub basic_hits: u64,
    /// bcrypt checks computed.
    pub basic_misses: u64,
    /// Tokens answered from the cache.
    pub jwt_hits: u64,
    /// Tokens verified.
    pub jwt_misses: u64,
}

/// Why a rule's check did not allow.
enum Fail {
    /// Refused: why, by which provider, and the fingerprint of the credential.
    Deny(Denial, Option<usize>, Option<String>),
    Wait(usize),
}

/// A credential that authenticated.
struct Authenticated {
    verified: Verified,
    provider: usize,
}

/// A configured filter instance: one per Envoy worker.
pub struct Engine {
    config: Config,
    basic_cache: RefCell<BasicCache>,
    token_cache: RefCell<TokenCache>,
    /// Keys credential fingerprints in audit lines; the same on every worker.
    audit_key: RefCell<[u8; 32]>,
}

impl Engine {
    /// An engine for a compiled configuration; `secret` keys the credential caches.
    pub fn new(config: Config, secret: [u8; 32]) -> Self {
        Engine {
            config,
            basic_cache: RefCell::new(BasicCache::new(secret, BASIC_CACHE_CAPACITY)),
            token_cache: RefCell::new(TokenCache::new(secret, TOKEN_CACHE_CAPACITY)),
            audit_key: RefCell::new(secret),
        }
    }

    /// Sets the key of credential fingerprints (shared by all workers, so that the same
    /// credential has the same fingerprint everywhere).
    pub fn set_audit_key(&self, key: [u8; 32]) {
        *self.audit_key.borrow_mut() = key;
    }

    /// Cache use since the last call.
    pub fn take_cache_counts(&self) -> CacheCounts {
        let mut b = self.basic_cache.borrow_mut();
        let mut t = self.token_cache.borrow_mut();
        let counts = CacheCounts {
            basic_hits: b.hits,
            basic_misses: b.misses,
            jwt_hits: t.hits,
            jwt_misses: t.misses,
        };
        (b.hits, b.misses, t.hits, t.misses) = (0, 0, 0, 0);
        counts
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

    /// Parses, validates and compiles the plugin configuration.
    pub fn from_json(json: &[u8], secret: [u8; 32]) -> Result<Self, ConfigError> {
        Ok(Engine::new(config::compile(json)?, secret))
    }

    /// The compiled configuration.
    pub fn config(&self) -> &Config {
        &self.config
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
        let mut allowed = Allowed {
            edits: Verified {
                remove: self.config.identity_headers.clone(),
                ..Verified::default()
            },
            ..Allowed::default()
        };
        let method = req.method();
        if self.config.allow_cors_preflight
            && method == "OPTIONS"
            && req.header("origin").is_some()
            && req.header("access-control-request-method").is_some()
        {
            allowed.rule = "cors-preflight".into();
            return Decision::Allow(allowed);
        }
        let path_and_query = req.path_and_query();
        let path = path_only(&path_and_query);
        let Some(rule) = self.config.rules.iter().find(|r| r.matches(&method, path)) else {
            // Unreachable: the last rule matches everything. Refuse rather than trust that.
            return self.deny(
                &req,
                self.config.rules.last(),
                Denial::MissingCredentials,
                None,
                None,
                allowed,
            );
        };
        allowed.rule = rule.label.clone();
        match self.check(&req, rule, now) {
            Ok(Some(auth)) => {
                allowed.edits.remove.extend(auth.verified.remove);
                allowed.edits.set.extend(auth.verified.set);
                allowed.edits.identity = auth.verified.identity;
                allowed.provider = self
                    .config
                    .providers
                    .get(auth.provider)
                    .map(|p| p.name.clone());
                Decision::Allow(allowed)
            }
            Ok(None) => Decision::Allow(allowed),
            Err(Fail::Wait(i)) if may_wait => Decision::Wait(i),
            Err(Fail::Wait(i)) => self.deny(
                &req,
                Some(rule),
                Denial::InvalidCredentials("the signing keys could not be fetched in time"),
                Some(i),
                None,
                allowed,
            ),
            Err(Fail::Deny(denial, provider, fp)) => {
                self.deny(&req, Some(rule), denial, provider, fp, allowed)
            }
        }
    }

    /// `Ok(None)`: allowed with no credential; `Ok(Some)`: authenticated.
    fn check(&self, req: &Request, rule: &Rule, now: u64) -> Result<Option<Authenticated>, Fail> {
        let (list, all) = match &rule.requires {
            Requirement::None => return Ok(None),
            Requirement::Any(l) => (l, false),
            Requirement::All(l) => (l, true),
        };
        let auth_value = req.header("authorization");
        let auth = Authorization::parse(auth_value.as_deref());
        if auth == Authorization::Repeated {
            return Err(Fail::Deny(
                Denial::InvalidRequest("more than one Authorization header was sent"),
                None,
                None,
            ));
        }
        let mut auth_claimed = false;
        let mut found: Vec<(usize, String, usize)> = Vec::with_capacity(list.len());
        for &i in list {
            let (f, reads_authorization) = match &self.config.providers[i].check {
                Check::Basic(_) => (
                    auth.for_scheme("basic")
                        .map_or(Found::Absent, |c| Found::One(c.to_string(), 0)),
                    true,
                ),
                Check::ApiKey(k) => {
                    let f = k.find(req);
                    let reads = matches!(&f, Found::One(_, s)
                        if k.sources[*s] == KeySource::Header("authorization".into()));
                    (f, reads)
                }
                Check::Jwt(j) => {
                    let f = extractor::find(&j.sources, req, &auth);
                    let reads = matches!(&f, Found::One(_, s) if j.sources[*s].is_authorization());
                    (f, reads)
                }
            };
            match f {
                Found::Absent => {}
                Found::Conflict => {
                    return Err(Fail::Deny(
                        Denial::InvalidRequest(
                            "the credential was sent more than once or in more than one place",
                        ),
                        Some(i),
                        None,
                    ))
                }
                Found::One(v, src) => {
                    auth_claimed |= reads_authorization;
                    found.push((i, v, src));
                }
            }
        }
        let unsupported = matches!(auth, Authorization::Credentials { .. }) && !auth_claimed;
        if found.is_empty() || (all && found.len() < list.len()) {
            return if unsupported {
                Err(Fail::Deny(Denial::UnsupportedScheme, None, None))
            } else if found.is_empty() && rule.allow_missing {
                Ok(None)
            } else {
                Err(Fail::Deny(Denial::MissingCredentials, None, None))
            };
        }
        let scope_denial = || Denial::InsufficientScope(rule.scopes.join(" "));
        let mut merged = Verified::default();
        let mut first_ok = None;
        let mut scopes_held: Vec<String> = Vec::new();
        let mut first_error: Option<Fail> = None;
        for (i, value, src) in found {
            match self.verify(i, &value, src, req, now) {
                Ok((verified, scopes)) if !all => {
                    if has_scopes(&scopes, &rule.scopes) {
                        return Ok(Some(Authenticated {
                            verified,
                            provider: i,
                        }));
                    }
                    // Authenticated but short of scope: that outranks any other failure.
                    first_error = Some(Fail::Deny(scope_denial(), Some(i), None));
                }
                Ok((v, scopes)) => {
                    merged.set.extend(v.set);
                    merged.remove.extend(v.remove);
                    merged.identity = merged.identity.or(v.identity);
                    first_ok.get_or_insert(i);
                    scopes_held.extend(scopes);
                }
                Err(Fail::Deny(d, p, None)) => {
                    let f = Fail::Deny(d, p, Some(self.fingerprint(&value)));
                    if all {
                        return Err(f);
                    }
                    first_error.get_or_insert(f);
                }
                Err(f) if all => return Err(f),
                Err(f) => {
                    // A provider still waiting for its keys may yet accept: wait rather than refuse.
                    if !matches!(first_error, Some(Fail::Wait(_))) {
                        first_error = Some(f);
                    }
                }
            }
        }
        if let Some(f) = first_error {
            return Err(f);
        }
        if !has_scopes(&scopes_held, &rule.scopes) {
            return Err(Fail::Deny(scope_denial(), None, None));
        }
        Ok(Some(Authenticated {
            verified: merged,
            provider: first_ok.unwrap_or(list[0]),
        }))
    }

    /// Checks one credential; returns the edits and the scopes it carries.
    fn verify(
        &self,
        i: usize,
        value: &str,
        src: usize,
        req: &Request,
        now: u64,
    ) -> Result<(Verified, Vec<String>), Fail> {
        let deny = |d| Fail::Deny(d, Some(i), None);
        match &self.config.providers[i].check {
            Check::Basic(b) => b
                .verify(value, &mut self.basic_cache.borrow_mut())
                .map(|v| (v, vec![]))
                .map_err(deny),
            Check::ApiKey(k) => k.verify(value, src, req).map(|v| (v, vec![])).map_err(deny),
            Check::Jwt(j) => {
                match j.verify(value, src, req, now, &mut self.token_cache.borrow_mut()) {
                    Ok((verdict, v)) => Ok((v, verdict.scopes.clone())),
                    Err(JwtFail::Deny(d)) => Err(deny(d)),
                    Err(JwtFail::KeysPending) => Err(Fail::Wait(i)),
                }
            }
        }
    }

    /// A refusal; in report mode, a pass that carries what would have been refused.
    fn deny(
        &self,
        req: &Request,
        rule: Option<&Rule>,
        denial: Denial,
        provider: Option<usize>,
        fingerprint: Option<String>,
        mut allowed: Allowed,
    ) -> Decision {
        let request_id = req.header("x-request-id");
        let accept = req.header("accept");
        let ctx = ReplyContext {
            challenges: rule.map(|r| r.challenges.as_slice()).unwrap_or(&[]),
            needs_all: rule.is_some_and(|r| matches!(r.requires, Requirement::All(_))),
            failed: provider
                .and_then(|i| self.config.providers.get(i))
                .map(|p| p.check.scheme()),
            request_id: request_id.as_deref(),
            html: reply::prefers_html(accept.as_deref()),
            settings: &self.config.response,
        };
        let denied = Box::new(Denied {
            reply: reply::render(&denial, &ctx),
            denial,
            rule: rule.map_or_else(|| "default".into(), |r| r.label.clone()),
            provider: provider
                .and_then(|i| self.config.providers.get(i))
                .map(|p| p.name.clone()),
            fingerprint,
        });
        if self.config.mode == Mode::Report {
            allowed.edits.set.push((
                self.config.report_header.clone(),
                format!("{}; rule={}", denied.denial.code(), denied.rule),
            ));
            allowed.would_deny = Some(denied);
            return Decision::Allow(allowed);
        }
        Decision::Deny(denied)
    }

    /// The reply for a client over its `throttle` limit (a pass that says so in report mode).
    pub fn throttled(&self, view: &dyn RequestView, retry_after: u64) -> Decision {
        let req = Request::new(view);
        let allowed = Allowed {
            edits: Verified {
                remove: self.config.identity_headers.clone(),
                ..Verified::default()
            },
            rule: "throttle".into(),
            ..Allowed::default()
        };
        let mut d = self.deny(
            &req,
            None,
            Denial::TooManyFailures(retry_after),
            None,
            None,
            allowed,
        );
        match &mut d {
            Decision::Deny(denied) => denied.rule = "throttle".into(),
            Decision::Allow(a) => {
                if let Some(denied) = &mut a.would_deny {
                    denied.rule = "throttle".into();
                }
                // The report header was written before the rule was named.
                let header = &self.config.report_header;
                for (k, v) in &mut a.edits.set {
                    if k == header {
                        *v = "too_many_failures; rule=throttle".into();
                    }
                }
            }
            Decision::Wait(_) => {}
        }
        d
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
            .filter_map(|(i, p)| match &p.check {
                Check::Jwt(j) => j.remote.as_ref().map(|r| (i, p.name.as_str(), r)),
                _ => None,
            })
    }

    /// Installs a fetched key set for provider `i`; returns how many keys it holds. On error
    /// the last good key set stays in force.
    pub fn install_jwks(&self, i: usize, body: &[u8], fetched_at: u64) -> Result<usize, String> {
        let Some(Check::Jwt(j)) = self.config.providers.get(i).map(|p| &p.check) else {
            return Err("not a jwt provider".into());
        };
        let set = RemoteJwks::parse(body)?;
        let n = set.keys.len();
        if let Some((old, new)) = j.install_remote(set, fetched_at) {
            self.token_cache.borrow_mut().drop_keys(&old, &new);
        }
        Ok(n)
    }

    /// Verified tokens cached on this worker.
    pub fn cached_tokens(&self) -> usize {
        self.token_cache.borrow().len()
    }
}

fn has_scopes(held: &[String], required: &[String]) -> bool {
    required.iter().all(|r| held.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::HeaderList;
    use base64::Engine as _;

    const CONFIG: &str = r#"{
        "realm": "api",
        "providers": {
            "staff": { "type": "basic",
                       "htpasswd": "alice:$2y$04$8TA3sJd/j/Ip41SKWn5JLewU5TrFEw6KPSpvQfnR9wc9r6wIcqQsm\nbob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
                       "forward_username_header": "x-auth-user" },
            "partners": { "type": "api_key",
                          "credentials": [ { "client": "acme", "key": "k-1" } ],
                          "key_sources": [ { "header": "x-api-key" }, { "query": "api_key" } ],
                          "forward_client_header": "x-auth-client" }
        },
        "rules": [
            { "match": { "prefix": "/healthz" }, "requires": "none" },
            { "match": { "prefix": "/admin", "methods": ["POST", "DELETE"] }, "requires": { "all": ["staff", "partners"] } },
            { "match": { "prefix": "/keys" }, "requires": "partners" },
            { "match": { "path": "/public/feed" }, "requires": { "any": ["partners", "staff"], "allow_missing": true } },
            { "match": { "prefix": "/" }, "requires": { "any": ["partners", "staff"] } }
        ]
    }"#;

    fn engine() -> Engine {
        Engine::from_json(CONFIG.as_bytes(), [9; 32]).unwrap()
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[derive(Debug)]
    enum Want {
        Allow(&'static [(&'static str, &'static str)]),
        Deny(u16, &'static str),
    }

    #[test]
    fn decision_table() {
        let e = engine();
        let alice = basic("alice:secret");
        let bob = basic("bob:secret");
        let wrong = basic("bob:wrong");
        let bob_mixed_case = bob.replace("Basic", "bASIC");
        type Case<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, &'a str)>, Want);
        let cases: Vec<Case> = vec![
            ("none rule", "GET", "/healthz", vec![], Want::Allow(&[])),
            (
                "missing",
                "GET",
                "/x",
                vec![],
                Want::Deny(401, "missing_credentials"),
            ),
            (
                "basic bcrypt",
                "GET",
                "/x",
                vec![("authorization", &alice)],
                Want::Allow(&[("x-auth-user", "alice")]),
            ),
            (
                "basic sha",
                "GET",
                "/x",
                vec![("authorization", &bob)],
                Want::Allow(&[("x-auth-user", "bob")]),
            ),
            (
                "basic wrong",
                "GET",
                "/x",
                vec![("authorization", &wrong)],
                Want::Deny(401, "invalid_credentials"),
            ),
            (
                "scheme case",
                "GET",
                "/x",
                vec![("authorization", &bob_mixed_case)],
                Want::Allow(&[("x-auth-user", "bob")]),
            ),
            (
                "key header",
                "GET",
                "/x",
                vec![("x-api-key", "k-1")],
                Want::Allow(&[("x-auth-client", "acme")]),
            ),
            (
                "key query",
                "GET",
                "/x?api_key=k-1",
                vec![],
                Want::Allow(&[("x-auth-client", "acme")]),
            ),
            (
                "key wrong",
                "GET",
                "/x",
                vec![("x-api-key", "k-2")],
                Want::Deny(401, "invalid_credentials"),
            ),
            (
                "key twice",
                "GET",
                "/x?api_key=k-1",
                vec![("x-api-key", "k-1")],
                Want::Deny(400, "invalid_request"),
            ),
            (
                "two authorization",
                "GET",
                "/x",
                vec![("authorization", &bob), ("authorization", &bob)],
                Want::Deny(400, "invalid_request"),
            ),
            (
                "bearer not accepted",
                "GET",
                "/x",
                vec![("authorization", "Bearer abc")],
                Want::Deny(401, "unsupported_scheme"),
            ),
            (
                "any: one valid is enough",
                "GET",
                "/x",
                vec![("authorization", &wrong), ("x-api-key", "k-1")],
                Want::Allow(&[("x-auth-client", "acme")]),
            ),
            (
                "any: unsupported scheme but valid key",
                "GET",
                "/x",
                vec![("authorization", "Digest a=1"), ("x-api-key", "k-1")],
                Want::Allow(&[("x-auth-client", "acme")]),
            ),
            (
                "basic not accepted on key route",
                "GET",
                "/keys",
                vec![("authorization", &bob)],
                Want::Deny(401, "unsupported_scheme"),
            ),
            (
                "all: both",
                "POST",
                "/admin",
                vec![("authorization", &bob), ("x-api-key", "k-1")],
                Want::Allow(&[("x-auth-user", "bob"), ("x-auth-client", "acme")]),
            ),
            (
                "all: one missing",
                "POST",
                "/admin",
                vec![("authorization", &bob)],
                Want::Deny(401, "missing_credentials"),
            ),
            (
                "all: one wrong",
                "POST",
                "/admin",
                vec![("authorization", &bob), ("x-api-key", "nope")],
                Want::Deny(401, "invalid_credentials"),
            ),
            (
                "method not in rule falls through",
                "GET",
                "/admin",
                vec![("authorization", &bob)],
                Want::Allow(&[("x-auth-user", "bob")]),
            ),
            (
                "allow_missing: nothing sent",
                "GET",
                "/public/feed",
                vec![],
                Want::Allow(&[]),
            ),
            (
                "allow_missing: wrong sent",
                "GET",
                "/public/feed",
                vec![("x-api-key", "nope")],
                Want::Deny(401, "invalid_credentials"),
            ),
            (
                "allow_missing: unsupported",
                "GET",
                "/public/feed",
                vec![("authorization", "Bearer x")],
                Want::Deny(401, "unsupported_scheme"),
            ),
            (
                "preflight",
                "OPTIONS",
                "/x",
                vec![
                    ("origin", "https://a"),
                    ("access-control-request-method", "GET"),
                ],
                Want::Allow(&[]),
            ),
            (
                "options without preflight headers",
                "OPTIONS",
                "/x",
                vec![("origin", "https://a")],
                Want::Deny(401, "missing_credentials"),
            ),
        ];
        for (name, method, path, headers, want) in cases {
            let view = HeaderList::new(method, path, &headers);
            let got = e.decide(&view, 0);
            match (&want, &got) {
                (Want::Allow(set), Decision::Allow(v)) => {
                    let set: Vec<(String, String)> = set
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    assert_eq!(v.edits.set, set, "{name}");
                    assert!(
                        v.edits.remove.contains(&"x-auth-user".to_string()),
                        "{name}: spoofable"
                    );
                    assert!(
                        v.edits.remove.contains(&"x-auth-client".to_string()),
                        "{name}: spoofable"
                    );
                }
                (Want::Deny(status, code), Decision::Deny(d)) => {
                    assert_eq!(d.reply.status, *status, "{name}");
                    assert_eq!(d.denial.code(), *code, "{name}");
                }
                _ => panic!("{name}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn challenges_follow_rule_order() {
        let e = engine();
        let Decision::Deny(d) = e.decide(&HeaderList::new("GET", "/", &[]), 0) else {
            panic!()
        };
        let www: Vec<&str> = d
            .reply
            .headers
            .iter()
            .filter(|(k, _)| k == "www-authenticate")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            www,
            [
                "ApiKey realm=\"api\", in=\"header\", name=\"x-api-key\"",
                "Basic realm=\"api\", charset=\"UTF-8\""
            ]
        );
        assert_eq!(d.rule, "rules[4]");
    }

    #[test]
    fn no_rules_means_any_provider() {
        let e = Engine::from_json(br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "s"}]}}}"#, [0; 32]).unwrap();
        assert!(matches!(
            e.decide(&HeaderList::new("GET", "/", &[]), 0),
            Decision::Deny(_)
        ));
        assert!(matches!(
            e.decide(&HeaderList::new("GET", "/", &[("x-api-key", "s")]), 0),
            Decision::Allow(_)
        ));
        assert_eq!(e.config().realm, "authgate");
    }

    #[test]
    fn credential_never_in_reply() {
        let e = engine();
        let secret = "sup3r-s3cret-value";
        for headers in [
            vec![("x-api-key", secret)],
            vec![("authorization", &*format!("Bearer {secret}"))],
        ] {
            let Decision::Deny(d) = e.decide(
                &HeaderList::new("GET", &format!("/x?q={secret}"), &headers),
                0,
            ) else {
                panic!()
            };
            let all = format!("{:?}", d);
            assert!(!all.contains(secret), "{all}");
        }
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::*;
    use crate::request::HeaderList;

    #[test]
    fn throttled_replies_and_report_mode() {
        let json = br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "k"}]}}}"#;
        let e = Engine::from_json(json, [0; 32]).unwrap();
        let Decision::Deny(d) = e.throttled(&HeaderList::new("GET", "/", &[]), 7) else {
            panic!()
        };
        assert_eq!((d.reply.status, d.rule.as_str()), (429, "throttle"));
        assert!(d
            .reply
            .headers
            .contains(&("retry-after".into(), "7".into())));
        let json = br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "k"}]}}, "mode": "report"}"#;
        let e = Engine::from_json(json, [0; 32]).unwrap();
        let Decision::Allow(a) = e.throttled(&HeaderList::new("GET", "/", &[]), 7) else {
            panic!()
        };
        let mark = (
            "x-authgate-would-deny".to_string(),
            "too_many_failures; rule=throttle".to_string(),
        );
        assert!(a.edits.set.contains(&mark), "{:?}", a.edits.set);
        assert_eq!(a.would_deny.unwrap().rule, "throttle");
    }
}

#[cfg(test)]
mod jwt_tests {
    use super::*;
    use crate::providers::jwt::rfc_vectors::{A3_EC_X, A3_EC_Y, A3_JWS};
    use crate::request::HeaderList;

    /// RFC 7515 §A.3's token (ES256, `iss: joe`, no scope) is valid at this time.
    const RFC_NOW: u64 = 1_300_819_300;

    fn engine() -> Engine {
        let json = serde_json::json!({
            "providers": {
                "idp": {"type": "jwt", "issuer": "joe",
                        "local_jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": A3_EC_X, "y": A3_EC_Y}]}},
                "staff": {"type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="}
            },
            "rules": [
                {"match": {"prefix": "/scoped"}, "requires": {"any": ["idp", "staff"]}, "scopes": ["read"]},
                {"match": {"prefix": "/both"}, "requires": {"all": ["idp", "staff"]}}
            ]
        });
        Engine::from_json(json.to_string().as_bytes(), [5; 32]).unwrap()
    }

    fn status(d: Decision) -> u16 {
        match d {
            Decision::Allow(_) => 200,
            Decision::Deny(d) => d.reply.status,
            Decision::Wait(_) => 0,
        }
    }

    #[test]
    fn scopes_and_combinations() {
        let e = engine();
        let bearer = format!("Bearer {A3_JWS}");
        let basic = "Basic Ym9iOnNlY3JldA==";
        let cases = [
            (
                "token without the scope",
                "/scoped",
                vec![("authorization", bearer.as_str())],
                RFC_NOW,
                403,
            ),
            (
                "basic user has no scopes",
                "/scoped",
                vec![("authorization", basic)],
                RFC_NOW,
                403,
            ),
            (
                "token in the default rule",
                "/other",
                vec![("authorization", bearer.as_str())],
                RFC_NOW,
                200,
            ),
            (
                "token expired",
                "/other",
                vec![("authorization", bearer.as_str())],
                RFC_NOW + 200,
                401,
            ),
            (
                "all: both in one Authorization is impossible",
                "/both",
                vec![("authorization", bearer.as_str())],
                RFC_NOW,
                401,
            ),
        ];
        for (name, path, headers, now, want) in cases {
            assert_eq!(
                status(e.decide(&HeaderList::new("GET", path, &headers), now)),
                want,
                "{name}"
            );
        }
    }
}
