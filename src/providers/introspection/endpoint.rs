//! The token service as authgate calls it (RFC 7662): where the endpoint is, the request that
//! asks about one token (§2.1, client authentication per RFC 6749 §2.3.1), what counts as an
//! answer (§2.2), and how long an answer may be kept. The calling itself is the host's; the
//! secret lives here and nowhere else, and no `Debug` or error shows it.

use crate::json;
use crate::providers::jwt::remote::split_uri;
use crate::providers::jwt::token::Claims;
use serde_json::Value;
use std::cell::{Cell, RefCell};

/// Longest answer read; a longer one is not an answer.
pub const MAX_ANSWER: usize = 16 * 1024;

/// How long new tokens are answered 503 after the token service failed, and the
/// `Retry-After` those replies carry (seconds).
pub const BACKOFF_SECONDS: u64 = 2;

use crate::providers::client_secret::ClientCredentials;
pub use crate::providers::client_secret::{AuthMethod, Secret};

/// Where the endpoint is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL (for logs).
    pub url: String,
    /// `:authority` of the call.
    pub authority: String,
    /// `:path` of the call.
    pub path: String,
}

impl Endpoint {
    /// The endpoint at `url`, or why not.
    pub fn at(url: &str) -> Result<Self, &'static str> {
        let (authority, path) = split_uri(url)?;
        Ok(Endpoint {
            url: url.to_string(),
            authority,
            path,
        })
    }
}

/// Finding the endpoint from the issuer's metadata (`introspection_endpoint`, RFC 8414 §2).
#[derive(Debug)]
pub struct Discovery {
    /// The issuer the metadata must name, exactly.
    pub issuer: String,
    /// The cluster that reaches the issuer.
    pub cluster: String,
    /// `:authority` of the metadata calls.
    pub authority: String,
    /// The metadata paths, tried in order: OpenID Connect, then RFC 8414.
    pub paths: [String; 2],
    /// How long a metadata call may take (ms).
    pub timeout_ms: u64,
    /// How long the metadata is used before it is read again (seconds).
    pub cache_duration: u64,
    /// When it was last read (seconds).
    read_at: Cell<Option<u64>>,
}

impl Discovery {
    /// Discovery of `issuer`'s metadata through `cluster`.
    pub fn new(
        issuer: &str,
        cluster: &str,
        (authority, paths): (String, [String; 2]),
        (timeout_ms, cache_duration): (u64, u64),
    ) -> Self {
        Discovery {
            issuer: issuer.to_string(),
            cluster: cluster.to_string(),
            authority,
            paths,
            timeout_ms,
            cache_duration,
            read_at: Cell::new(None),
        }
    }

    /// Whether the metadata should be read at `now`: never read, or older than the period.
    pub fn due(&self, now: u64) -> bool {
        self.read_at
            .get()
            .is_none_or(|at| now >= at + self.cache_duration)
    }
}

/// An endpoint given in the configuration, or found in an issuer's metadata: introspection's
/// and token exchange's.
#[derive(Debug)]
pub struct Located {
    /// The endpoint: configured, or found by [`Located::discovery`].
    endpoint: RefCell<Option<Endpoint>>,
    /// With an issuer to read: how the endpoint is found.
    pub discovery: Option<Discovery>,
}

impl Located {
    /// The configured `endpoint`, or the one `discovery` will find.
    pub fn new(endpoint: Option<Endpoint>, discovery: Option<Discovery>) -> Self {
        Located {
            endpoint: RefCell::new(endpoint),
            discovery,
        }
    }

    /// The endpoint, once known.
    pub fn endpoint(&self) -> Option<Endpoint> {
        self.endpoint.borrow().clone()
    }

    /// What names it in shared records: its URL, or for a discovered one its issuer, which
    /// does not change when the endpoint does.
    pub fn name(&self) -> String {
        match (self.endpoint(), &self.discovery) {
            (Some(e), _) => e.url,
            (None, Some(d)) => format!("discovered:{}", d.issuer),
            (None, None) => String::new(),
        }
    }

    /// What logs call it: its URL, or the issuer's `member` while it is being discovered.
    pub fn label(&self, member: &str) -> String {
        match (self.endpoint(), &self.discovery) {
            (Some(e), _) => e.url,
            (None, Some(d)) => format!("the {member} of {}", d.issuer),
            (None, None) => String::new(),
        }
    }

    /// Uses `url`, read from the issuer's metadata at `at`, from now on; `true` when it
    /// changed.
    pub fn set_discovered(&self, url: &str, at: u64) -> bool {
        let Some(d) = &self.discovery else {
            return false;
        };
        d.read_at.set(Some(at));
        let Ok(e) = Endpoint::at(url) else {
            return false;
        };
        let changed = self.endpoint.borrow().as_ref() != Some(&e);
        *self.endpoint.borrow_mut() = Some(e);
        changed
    }
}

/// One introspection endpoint and the client authgate is there.
#[derive(Debug)]
pub struct Introspector {
    /// The introspection endpoint.
    pub located: Located,
    /// Names this service's answers in shared data.
    source: String,
    /// The Envoy cluster the call goes through.
    pub cluster: String,
    /// The client and how it authenticates.
    pub client: ClientCredentials,
    /// How long a call may take, and a request wait for it (ms).
    pub timeout_ms: u64,
    /// Longest an active answer is kept (seconds).
    pub cache_max: u64,
    /// How long an inactive answer is kept (seconds).
    pub negative_cache: u64,
}

/// What the token service said about a token.
#[derive(Debug)]
pub struct Answer {
    /// `active`.
    pub active: bool,
    /// The other members (for an active token), read as a JWT's claims are.
    pub claims: Claims,
}

/// `application/x-www-form-urlencoded` for one name or value: everything but unreserved
/// characters is percent-encoded (so `+`, `&`, `=` and `%` in a token survive).
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Introspector {
    /// A service at `endpoint` (or found by `discovery`) reached through `cluster`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (endpoint, discovery): (Option<Endpoint>, Option<Discovery>),
        cluster: &str,
        client_id: &str,
        secret: String,
        method: AuthMethod,
        timeout_ms: u64,
        (cache_max, negative_cache): (u64, u64),
    ) -> Self {
        // Providers that ask the same service as the same client share answers.
        let located = Located::new(endpoint, discovery);
        Introspector {
            source: format!("{cluster}|{}|{client_id}", located.name()),
            located,
            cluster: cluster.to_string(),
            client: ClientCredentials::new(client_id, secret, method),
            timeout_ms,
            cache_max,
            negative_cache,
        }
    }

    /// Names the answers of this service for this client in shared data.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The endpoint, once known.
    pub fn endpoint(&self) -> Option<Endpoint> {
        self.located.endpoint()
    }

    /// What logs call the endpoint.
    pub fn label(&self) -> String {
        self.located.label("introspection_endpoint")
    }

    /// The request headers of a call to `e`.
    pub fn headers<'a>(&'a self, e: &'a Endpoint) -> Vec<(&'a str, &'a str)> {
        self.client.form_post(e)
    }

    /// The form body that asks about `token` (RFC 7662 §2.1).
    pub fn body(&self, token: &str) -> Vec<u8> {
        let mut body = format!("token={}&token_type_hint=access_token", form_encode(token));
        self.client.append_to_form(&mut body);
        body.into_bytes()
    }

    /// Reads a call's outcome (`status` `None`: no answer). `Err` says in a few words why it
    /// is not an answer, never quoting the body (which may echo the token).
    pub fn read(status: Option<&str>, body: &[u8]) -> Result<Answer, String> {
        match status {
            Some("200") => {}
            Some(s) => return Err(format!("HTTP status {s}")),
            None => return Err("no response (timeout or connection failure)".into()),
        }
        if body.len() > MAX_ANSWER {
            return Err(format!("the answer is larger than {MAX_ANSWER} bytes"));
        }
        let Ok(Value::Object(mut all)) = json::parse_strict(body) else {
            return Err("the answer is not a JSON object".into());
        };
        let active = match all.remove("active") {
            Some(Value::Bool(b)) => b,
            _ => return Err("the answer has no boolean `active` (RFC 7662 §2.2)".into()),
        };
        if !active {
            return Ok(Answer {
                active,
                claims: Claims::default(),
            });
        }
        let claims = Claims::from_map(all).map_err(|why| format!("the answer's {why}"))?;
        Ok(Answer { active, claims })
    }

    /// Until when (seconds) an answer read at `now` may be used: an active one until the
    /// earlier of its `exp` and `cache_max_seconds`, an inactive one `negative_cache_seconds`.
    /// At least `now`, so the requests that waited for it are decided with it.
    pub fn until(&self, answer: &Answer, now: u64) -> u64 {
        if !answer.active {
            return now + self.negative_cache;
        }
        let cap = now + self.cache_max;
        let until = match answer.claims.exp {
            Some(exp) if exp < cap as f64 => exp.max(0.0) as u64,
            _ => cap,
        };
        until.max(now)
    }
}
