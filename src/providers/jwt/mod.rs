//! The `jwt` provider: finds a token, verifies its signature with a key chosen by `kid` that
//! agrees with the token's `alg`, checks the claims, and derives the headers for upstream.
//! One concept per file: [`alg`], [`jwks`], [`es384`], [`verifier`], [`token`], [`claims`],
//! [`extractor`], [`forward`], [`remote`], [`cache`].

pub mod cache;
pub mod claims;
mod compile;
mod config;
#[cfg(test)]
pub mod es384;
pub mod extractor;
pub mod forward;
pub mod remote;
#[cfg(any(test, feature = "test-vectors"))]
pub mod rfc_vectors;
#[cfg(test)]
pub(crate) mod tests;
pub mod token;

pub use self::config::{RawClaimToHeader, RawDiscovery, RawJwt, RawJwtHeader, RawRemoteJwks};
pub use crate::crypto::alg;
pub use crate::jose::{jwks, verifier, x509};

use self::alg::Alg;
use self::cache::{TokenCache, Verdict};
use self::claims::ClaimRules;
use self::extractor::TokenSource;
use self::jwks::Jwk;
use self::remote::RemoteJwks;
use super::{locate, Accepted, CacheUse, Found, HeaderEdits, Need, Provider, Rejection, Setup};
use crate::authorization::Authorization;
use crate::binding::Binding;
use crate::crypto::HostSignatures;
use crate::error::{ConfigError, Denial};
use crate::reply::{Challenge, Scheme};
use crate::request::Request;
use crate::schema::section;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Most keys tried for a token without `kid`.
const MAX_CANDIDATES: usize = 8;

/// Entries per generation in the per-worker cache of verified tokens.
pub const CACHE_CAPACITY: usize = 1024;

/// A compiled `jwt` provider.
pub struct JwtProvider {
    domain: Vec<u8>,
    /// Where tokens are read, in order.
    pub sources: Vec<TokenSource>,
    rules: ClaimRules,
    forward: bool,
    /// Header that receives the payload upstream.
    pub forward_payload_header: Option<String>,
    /// `(claim path, header)` pairs.
    pub claim_to_headers: Vec<(String, String)>,
    local: Vec<Jwk>,
    /// The remote key set, when configured.
    pub remote: Option<RemoteJwks>,
    /// DPoP and certificate binding.
    pub binding: Binding,
    /// This worker's verified tokens.
    cache: RefCell<TokenCache>,
    /// What was skipped at load (unsupported keys), for one log line each.
    warnings: Vec<String>,
    /// The host's signature verification, when in use.
    signatures: Option<Rc<dyn HostSignatures>>,
    /// Signatures checked by the host, and in the module, since last counted.
    host_checks: Cell<u64>,
    module_checks: Cell<u64>,
}

impl JwtProvider {
    /// Verified tokens cached on this worker.
    pub fn cached(&self) -> usize {
        self.cache.borrow().len()
    }

    /// Forgets every cached token, so the next check of each is a miss.
    pub fn clear_cache(&self) {
        self.cache.borrow_mut().clear();
    }

    /// The claims of `token` once its signature, `iss`, `aud` and times check out at `now`
    /// (sign-in reads an ID token this way).
    pub fn checked_claims(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Rc<serde_json::Map<String, Value>>, Rejection> {
        let verdict = self.verdict(token, now, &mut self.cache.borrow_mut())?;
        Ok(verdict.claims.clone())
    }

    fn verdict(
        &self,
        token: &str,
        now: u64,
        cache: &mut TokenCache,
    ) -> Result<Rc<Verdict>, Rejection> {
        if token.len() > token::MAX_TOKEN_LEN {
            return Err(Denial::InvalidCredentials("token too large").into());
        }
        let key = cache.key(&self.domain, token);
        if let Some(v) = cache.get(&key) {
            if let Err(d) = self.rules.check_time(v.exp, v.nbf, now) {
                cache.remove(&key);
                return Err(d.into());
            }
            return Ok(v);
        }
        let t = token::parse(token).map_err(Denial::InvalidCredentials)?;
        // The issuer first: with several providers on a route, the token's `iss` picks the
        // one that spends time on its signature. Time next, as Envoy's jwt_authn does: an
        // expired token is refused without a signature check, so replaying old tokens is
        // cheap to answer. (Either way the answer is a 401; only its wording can differ for
        // a forged expired token.)
        self.rules.check_issuer(&t.claims)?;
        self.rules.check_time(t.claims.exp, t.claims.nbf, now)?;
        let remote = self.remote.as_ref().map(|r| (r, r.keys()));
        let remote_keys: &[Jwk] = match &remote {
            Some((_, Some(set))) => &set.keys,
            _ => &[],
        };
        let mut by_kid = 0usize;
        let mut tried = 0usize;
        let mut verified_with = None;
        for k in self.local.iter().chain(remote_keys) {
            if let Some(kid) = &t.kid {
                if k.kid.as_deref() != Some(kid.as_str()) {
                    continue;
                }
                by_kid += 1;
            }
            if !k.accepts(t.alg) || tried >= MAX_CANDIDATES {
                continue;
            }
            tried += 1;
            if self.check_signature(t.alg, k, t.signing_input.as_bytes(), &t.signature) {
                verified_with = Some(k.fingerprint);
                break;
            }
        }
        let Some(fingerprint) = verified_with else {
            if let Some((r, set)) = &remote {
                if set.is_none() {
                    return Err(Rejection::Pending(Need::Keys));
                }
                if t.kid.is_some() && by_kid == 0 {
                    r.want_refresh();
                    // The key set may have rotated: when a refetch is allowed now, hold the
                    // request for it rather than refuse a token signed with a new key.
                    if r.refetch_allowed(now) {
                        return Err(Rejection::Pending(Need::Keys));
                    }
                }
            }
            return Err(Denial::InvalidCredentials(match (&t.kid, by_kid, tried) {
                (Some(_), 0, _) => "unknown key id",
                (_, _, 0) => "no key for the token's algorithm",
                _ => "invalid signature",
            })
            .into());
        };
        self.rules.check_static(&t.claims, now)?;
        let set = self.headers_for(&t);
        let subject = t
            .claims
            .all
            .get("sub")
            .and_then(|s| s.as_str())
            .map(str::to_string);
        let verdict = Rc::new(Verdict {
            exp: t.claims.exp,
            nbf: t.claims.nbf,
            key: fingerprint,
            set,
            subject,
            // The token is done with: its claims move into the cache rather than being copied.
            scopes: t.claims.scopes,
            claims: Rc::new(t.claims.all),
        });
        cache.insert(key, verdict.clone());
        Ok(verdict)
    }

    /// One signature check (see [`verifier::check_with`]), counted by where it ran.
    fn check_signature(&self, alg: Alg, k: &Jwk, input: &[u8], signature: &[u8]) -> bool {
        let (good, by_host) =
            verifier::check_with(self.signatures.as_ref(), alg, k, input, signature);
        let counter = if by_host {
            &self.host_checks
        } else {
            &self.module_checks
        };
        counter.set(counter.get() + 1);
        good
    }

    fn headers_for(&self, t: &token::Token) -> Vec<(String, String)> {
        let mut set = Vec::new();
        if let Some(h) = &self.forward_payload_header {
            set.push((h.clone(), t.payload_b64.to_string()));
        }
        set.extend(forward::headers(&t.claims.all, &self.claim_to_headers));
        set
    }
}

impl std::fmt::Debug for JwtProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtProvider")
            .field("sources", &self.sources)
            .field("rules", &self.rules)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("host_signatures", &self.signatures.is_some())
            .finish_non_exhaustive()
    }
}

/// Compiles a `jwt` provider from its configuration object (the registry's entry).
pub fn from_config(setup: &Setup, value: Value) -> Result<Box<dyn Provider>, ConfigError> {
    let raw: RawJwt = section(&setup.field(), value)?;
    Ok(Box::new(JwtProvider::compile(setup, &raw)?))
}

impl Provider for JwtProvider {
    fn scheme(&self) -> Scheme {
        Scheme::Bearer
    }

    fn challenge(&self, realm: &str) -> Challenge {
        Challenge::bearer(realm)
    }

    fn challenges(&self, realm: &str) -> Vec<Challenge> {
        self.binding.challenges(realm)
    }

    fn scheme_of(&self, source: usize) -> Scheme {
        extractor::scheme_of(&self.sources, source)
    }

    fn needs_peer_certificate(&self) -> bool {
        self.binding.needs_peer_certificate()
    }

    fn binding(&self) -> Option<&Binding> {
        Some(&self.binding)
    }

    fn reads_query(&self) -> bool {
        self.sources
            .iter()
            .any(|s| matches!(s, TokenSource::Param(_)))
    }

    fn find(&self, req: &Request, auth: &Authorization) -> Found {
        extractor::find(&self.sources, req, auth)
    }

    fn reads_authorization(&self, source: usize) -> bool {
        self.sources
            .get(source)
            .is_some_and(TokenSource::is_authorization)
    }

    /// Verifies `token` (found in source `source`) at `now`.
    fn verify(
        &self,
        token: &str,
        source: usize,
        req: &Request,
        now: u64,
    ) -> Result<Accepted, Rejection> {
        let verdict = self.verdict(token, now, &mut self.cache.borrow_mut())?;
        let proof = self.binding.check(
            verdict.claims.get("cnf"),
            self.sources[source].is_dpop(),
            token,
            req,
            now,
        )?;
        let mut edits = HeaderEdits {
            set: verdict.set.clone(),
            remove: vec![],
        };
        if !self.forward {
            locate::hide(self.sources[source].place(), req, &mut edits);
            if proof.is_some() {
                // The proof goes with the token: upstream gets neither.
                edits.remove.push("dpop".into());
            }
        }
        Ok(Accepted {
            edits,
            identity: verdict.subject.clone(),
            scopes: verdict.scopes.clone(),
            claims: Some(verdict.claims.clone()),
            proof,
        })
    }

    fn authorization_scheme(&self) -> Option<&'static str> {
        extractor::authorization_scheme(&self.sources)
    }

    fn headers_read(&self) -> Vec<&str> {
        extractor::headers_read(&self.sources)
    }

    fn headers_set(&self) -> Vec<(&'static str, &str)> {
        let payload = self
            .forward_payload_header
            .iter()
            .map(|h| ("forward_payload_header", h.as_str()));
        let claims = self
            .claim_to_headers
            .iter()
            .map(|(_, h)| ("claim_to_headers", h.as_str()));
        payload.chain(claims).collect()
    }

    fn has_scopes(&self) -> bool {
        true
    }

    fn forwards_token(&self) -> bool {
        self.forward
    }

    fn audience_from_resources(&self) -> bool {
        self.rules.from_resources
    }

    fn has_claims(&self) -> bool {
        true
    }

    fn bearer_methods(&self) -> Vec<&'static str> {
        extractor::bearer_methods(&self.sources)
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn has_public_keys(&self) -> bool {
        true
    }

    fn take_signature_checks(&self) -> (u64, u64) {
        (self.host_checks.take(), self.module_checks.take())
    }

    fn take_cache_use(&self) -> Option<CacheUse> {
        let c = &mut *self.cache.borrow_mut();
        Some(CacheUse::take("jwt", &mut c.hits, &mut c.misses))
    }

    fn remote_jwks(&self) -> Option<&RemoteJwks> {
        self.remote.as_ref()
    }

    /// On error the last good key set stays in force; verifications made with keys that left
    /// the set (rotation, revocation) are dropped from the cache.
    fn install_jwks(&self, body: &[u8], fetched_at: u64) -> Result<usize, String> {
        let r = self.remote.as_ref().ok_or("no remote key set")?;
        let set = RemoteJwks::parse(body, self.signatures.is_some())?;
        let n = set.keys.len();
        let old: Vec<u64> = r
            .keys()
            .map(|s| s.keys.iter().map(|k| k.fingerprint).collect())
            .unwrap_or_default();
        let new = r.install(set, fetched_at);
        self.cache.borrow_mut().drop_keys(&old, &new);
        Ok(n)
    }
}
