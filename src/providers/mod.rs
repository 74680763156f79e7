//! Credential providers behind one interface, [`Provider`]: where a provider's credential is in
//! a request, how one is checked, the challenge it advertises, the headers it reads and sets.
//! Each provider lives in its own module with its configuration section; [`registry`] is the
//! one list of provider types. Adding a provider touches its own folder, its config section and
//! one line of the registry — not the engine.

pub mod api_key;
pub mod basic;
pub mod client_secret;
pub mod introspection;
pub mod jwt;
pub mod locate;
pub mod oidc;
pub mod registry;

use crate::authorization::Authorization;
use crate::crypto::HostSignatures;
use crate::error::Denial;
use crate::providers::jwt::remote::RemoteJwks;
use crate::reply::{Challenge, Scheme};
use crate::request::Request;
use std::rc::Rc;

/// Header edits a request gets before it goes upstream: remove these, then set those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Headers to set (identity for upstream, a `:path` or `cookie` with a credential cut out).
    pub set: Vec<(String, String)>,
    /// Headers to remove (credentials hidden from upstream, forged identity headers).
    pub remove: Vec<String>,
}

impl HeaderEdits {
    /// Appends `other`'s edits to these.
    pub fn extend(&mut self, other: HeaderEdits) {
        self.remove.extend(other.remove);
        self.set.extend(other.set);
    }
}

/// A credential that checked out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// What the request needs before it goes upstream.
    pub edits: HeaderEdits,
    /// Who was authenticated (user name, API client, token subject), for the audit log.
    pub identity: Option<String>,
    /// The scopes the credential holds (tokens only).
    pub scopes: Vec<String>,
    /// The claims it carries (tokens only), for rules' `claims` conditions.
    pub claims: Option<Rc<serde_json::Map<String, serde_json::Value>>>,
    /// A DPoP proof that checked out: the replay cache must not have seen it.
    pub proof: Option<crate::binding::dpop::ProofUse>,
}

/// Why a credential was not accepted (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Refused, for this reason.
    Refused(Denial),
    /// Something remote the check needs has not arrived: hold the request.
    Pending(Need),
}

/// What a held check waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The provider's remote key set.
    Keys,
    /// The token service's answer about this token (RFC 7662).
    Introspection(Credential),
    /// The token endpoint's answer to this sign-in's code.
    SignIn(Box<oidc::callback::Exchange>),
    /// A token issued for the upstream in exchange for the caller's (RFC 8693), whose call
    /// may take this long (ms).
    Exchange(u64),
}

/// A credential carried to where it is sent (an introspection call). Its `Debug` never shows
/// it, so no log line or test failure can print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Credential(value.into())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(..)")
    }
}

impl From<Denial> for Rejection {
    fn from(d: Denial) -> Self {
        Rejection::Refused(d)
    }
}

/// Where a provider's credential stands in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Not sent.
    Absent,
    /// Sent once: the value, and the index of the provider's source it came from.
    One(String, usize),
    /// Sent more than once or by more than one method (RFC 6750 §2 forbids it for tokens;
    /// the same rule keeps API keys unambiguous).
    Conflict,
}

/// What a provider is compiled with besides its configuration.
#[derive(Clone)]
pub struct Setup<'a> {
    /// The provider's name in the configuration.
    pub name: &'a str,
    /// Keys the provider's per-worker caches (never a credential in the clear).
    pub secret: [u8; 32],
    /// The host's own signature verification, when it has one and it is in use.
    pub signatures: Option<Rc<dyn HostSignatures>>,
    /// The ids of the protected resources (`resource`, `resources`): a token provider that
    /// names no `audiences` accepts a token for the resource the request is under.
    pub audiences: &'a [String],
    /// The Wasm VM's environment variables (`client_secret_env`).
    pub env: Env<'a>,
    /// The host's randomness, when it has one (sign-in needs it for `state` and `nonce`).
    pub random: Option<Random>,
}

pub use crate::capabilities::{Env, Random};

fn no_variable(_: &str) -> Option<String> {
    None
}

/// An environment with no variables.
pub const NO_ENV: Env<'static> = &no_variable;

impl Setup<'_> {
    /// The JSON path of the provider's configuration, for errors.
    pub fn field(&self) -> String {
        format!("providers.{}", self.name)
    }
}

/// Cache use since the last look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUse {
    /// Which cache: the `<name>` of `authgate.cache.<name>.hit|miss`.
    pub cache: &'static str,
    /// Checks answered from the cache.
    pub hits: u64,
    /// Checks computed.
    pub misses: u64,
}

impl CacheUse {
    /// The use counted in `hits` and `misses` of cache `cache`, which start again from zero.
    pub fn take(cache: &'static str, hits: &mut u64, misses: &mut u64) -> Self {
        CacheUse {
            cache,
            hits: std::mem::take(hits),
            misses: std::mem::take(misses),
        }
    }
}

/// One configured credential checker.
pub trait Provider {
    /// The scheme its credentials use.
    fn scheme(&self) -> Scheme;

    /// The challenge this provider advertises under `realm`.
    fn challenge(&self, realm: &str) -> Challenge;

    /// Every challenge it advertises (a token provider that takes DPoP has two).
    fn challenges(&self, realm: &str) -> Vec<Challenge> {
        vec![self.challenge(realm)]
    }

    /// The scheme of a credential found in source `source` (`DPoP` or `Bearer` for tokens).
    fn scheme_of(&self, _source: usize) -> Scheme {
        self.scheme()
    }

    /// Whether it reads credentials from the query string (they end up in access logs).
    fn reads_query(&self) -> bool {
        false
    }

    /// Its sender constraints, when it takes tokens.
    fn binding(&self) -> Option<&crate::binding::Binding> {
        None
    }

    /// Whether it needs the client certificate of the connection (`mtls_bound`).
    fn needs_peer_certificate(&self) -> bool {
        false
    }

    /// Where the provider's credential stands in the request; `auth` is the parsed
    /// `Authorization` header, shared by every provider.
    fn find(&self, req: &Request, auth: &Authorization) -> Found;

    /// Whether source `source` is the `Authorization` header (a credential found there claims
    /// the header's scheme, so it is not "unsupported").
    fn reads_authorization(&self, source: usize) -> bool;

    /// Checks a credential found in source `source` at `now` (seconds).
    fn verify(
        &self,
        value: &str,
        source: usize,
        req: &Request,
        now: u64,
    ) -> Result<Accepted, Rejection>;

    /// The `Authorization` scheme this provider reads (`Basic`, `Bearer`), if any: a header
    /// that names it but holds nothing is an empty credential, not a foreign scheme.
    fn authorization_scheme(&self) -> Option<&'static str> {
        None
    }

    /// Headers credentials are read from (they may not also be set for upstream).
    fn headers_read(&self) -> Vec<&str>;

    /// Headers set for upstream, each with the config field (below the provider) naming it.
    fn headers_set(&self) -> Vec<(&'static str, &str)>;

    /// What the configuration left out but did not refuse (keys skipped per RFC 7517 §5),
    /// logged once at configure as warnings.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether its credentials carry claims that a rule's `claims` can test.
    fn has_claims(&self) -> bool {
        false
    }

    /// How its bearer tokens may be sent, in RFC 9728's words (`header`, `query`).
    fn bearer_methods(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Whether its credentials carry scopes that a rule's `scopes` can require.
    fn has_scopes(&self) -> bool {
        false
    }

    /// Whether it lets the caller's token go upstream (`forward`), which a token exchange
    /// cannot allow.
    fn forwards_token(&self) -> bool {
        false
    }

    /// Whether it verifies public-key signatures (the start-up line says where).
    fn has_public_keys(&self) -> bool {
        false
    }

    /// Signatures verified (by the host, in the module) since the last call.
    fn take_signature_checks(&self) -> (u64, u64) {
        (0, 0)
    }

    /// Cache use since the last call, if the provider caches.
    fn take_cache_use(&self) -> Option<CacheUse> {
        None
    }

    /// The remote key set this provider fetches, if any.
    fn remote_jwks(&self) -> Option<&RemoteJwks> {
        None
    }

    /// Installs a fetched key set; returns how many keys it holds.
    fn install_jwks(&self, _body: &[u8], _fetched_at: u64) -> Result<usize, String> {
        Err("this provider has no remote key set".into())
    }

    /// The token service this provider asks about tokens (RFC 7662), if any.
    fn introspection(&self) -> Option<&introspection::Introspector> {
        None
    }

    /// Keeps the token service's `answer` about `token` until `until` (seconds), judged at
    /// `now`.
    fn install_answer(
        &self,
        _token: &Credential,
        _answer: &introspection::Answer,
        _until: u64,
        _now: u64,
    ) {
    }

    /// Whether the provider names no `audiences` of its own, so a token must be for the
    /// protected resource the request is under (checked by the engine, which knows it).
    fn audience_from_resources(&self) -> bool {
        false
    }

    /// The sign-in this provider runs (`oidc`), if it is one.
    fn sign_in(&self) -> Option<&oidc::provider::OidcProvider> {
        None
    }

    /// What a check still waiting when its time is up becomes.
    fn gave_up(&self) -> Denial {
        Denial::InvalidCredentials("the signing keys could not be fetched in time")
    }
}
