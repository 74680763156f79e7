//! The `introspection` provider (RFC 7662): an opaque token is checked by asking the token
//! service about it. This worker's answers are kept in a bounded cache keyed by a keyed hash
//! of the token; a token with no answer yet makes the check wait ([`Need::Introspection`])
//! while the worker asks once for every worker ([`crate::shared_state::introspection`]).
//! An active answer is then checked as a JWT's claims are: issuer, audience, time, scopes.

mod compile;
mod config;
pub mod endpoint;
#[cfg(test)]
mod tests;

pub use self::config::{RawIntrospection, RawIntrospectionDiscovery};
pub use self::endpoint::{Answer, Introspector};

use super::jwt::cache::Verdict;
use super::jwt::claims::ClaimRules;
use super::jwt::extractor::{self, TokenSource};
use super::jwt::{forward, token};
use super::{locate, Accepted, CacheUse, Credential, Found, HeaderEdits, Need, Provider};
use super::{Rejection, Setup};
use crate::authorization::Authorization;
use crate::binding::Binding;
use crate::cache::VerifiedCache;
use crate::error::{ConfigError, Denial};
use crate::reply::{Challenge, Scheme};
use crate::request::Request;
use crate::schema::section;
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;

/// Entries per generation in the per-worker cache of answers.
pub const CACHE_CAPACITY: usize = 1024;

/// What an answer means for the token, decided once when it arrives.
#[derive(Debug)]
enum Outcome {
    /// Active and acceptable (time is checked again on each use).
    Accept(Verdict),
    /// Inactive, or active for another issuer or audience.
    Refuse(Denial),
}

/// A kept answer.
#[derive(Debug)]
struct Entry {
    /// Used until this second (inclusive).
    until: u64,
    outcome: Outcome,
}

/// This worker's kept answers, with their use since last counted.
struct Answers {
    inner: VerifiedCache<Rc<Entry>>,
    hits: u64,
    misses: u64,
}

/// A compiled `introspection` provider.
pub struct IntrospectionProvider {
    domain: Vec<u8>,
    /// Where tokens are read, in order.
    pub sources: Vec<TokenSource>,
    /// DPoP and certificate binding (the answer's `cnf`).
    pub binding: Binding,
    rules: ClaimRules,
    forward: bool,
    /// `(answer member path, header)` pairs.
    pub claim_to_headers: Vec<(String, String)>,
    /// The token service.
    pub endpoint: Introspector,
    answers: RefCell<Answers>,
}

impl std::fmt::Debug for IntrospectionProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionProvider")
            .field("sources", &self.sources)
            .field("rules", &self.rules)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Compiles an `introspection` provider from its configuration object (the registry's entry).
pub fn from_config(setup: &Setup, value: Value) -> Result<Box<dyn Provider>, ConfigError> {
    let raw: RawIntrospection = section(&setup.field(), value)?;
    Ok(Box::new(IntrospectionProvider::compile(setup, &raw)?))
}

impl IntrospectionProvider {
    /// What `answer` means under this provider's rules at `now`.
    fn outcome(&self, answer: &Answer, now: u64) -> Outcome {
        if !answer.active {
            return Outcome::Refuse(Denial::InvalidCredentials("the token is not active"));
        }
        let c = &answer.claims;
        let checked = self
            .rules
            .check_issuer(c)
            .and_then(|_| self.rules.check_static(c, now));
        if let Err(d) = checked {
            return Outcome::Refuse(d);
        }
        // RFC 7662 §2.2: `sub` is the resource owner; `username` a human-readable name for
        // it; `client_id` the client the token was issued to (client-credentials tokens).
        let identity = ["sub", "username", "client_id"]
            .iter()
            .find_map(|k| c.all.get(*k).and_then(Value::as_str))
            .map(str::to_string);
        let set = forward::headers(&c.all, &self.claim_to_headers);
        Outcome::Accept(Verdict {
            exp: c.exp,
            nbf: c.nbf,
            key: 0,
            scopes: c.scopes.clone(),
            set,
            subject: identity,
            claims: Rc::new(c.all.clone()),
        })
    }

    /// The kept answer for `token`, if it may still be used at `now`.
    fn kept(&self, token: &str, now: u64) -> Option<Rc<Entry>> {
        let a = &mut *self.answers.borrow_mut();
        let key = a.inner.key(&self.domain, token.as_bytes());
        match a.inner.get(&key) {
            Some(e) if now <= e.until => {
                a.hits += 1;
                Some(e)
            }
            Some(_) => {
                a.inner.remove(&key);
                a.misses += 1;
                None
            }
            None => {
                a.misses += 1;
                None
            }
        }
    }
}

impl Provider for IntrospectionProvider {
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

    /// Answers from this worker's kept answers, or waits for the token service.
    fn verify(
        &self,
        token: &str,
        source: usize,
        req: &Request,
        now: u64,
    ) -> Result<Accepted, Rejection> {
        if token.len() > token::MAX_TOKEN_LEN {
            return Err(Denial::InvalidCredentials("token too large").into());
        }
        let Some(entry) = self.kept(token, now) else {
            return Err(Rejection::Pending(Need::Introspection(Credential::new(
                token,
            ))));
        };
        let v = match &entry.outcome {
            Outcome::Refuse(d) => return Err(d.clone().into()),
            Outcome::Accept(v) => v,
        };
        self.rules.check_time(v.exp, v.nbf, now)?;
        let proof = self.binding.check(
            v.claims.get("cnf"),
            self.sources[source].is_dpop(),
            token,
            req,
            now,
        )?;
        let mut edits = HeaderEdits {
            set: v.set.clone(),
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
            identity: v.subject.clone(),
            scopes: v.scopes.clone(),
            claims: Some(v.claims.clone()),
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
        self.claim_to_headers
            .iter()
            .map(|(_, h)| ("claim_to_headers", h.as_str()))
            .collect()
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

    fn take_cache_use(&self) -> Option<CacheUse> {
        let a = &mut *self.answers.borrow_mut();
        Some(CacheUse::take("introspection", &mut a.hits, &mut a.misses))
    }

    fn introspection(&self) -> Option<&Introspector> {
        Some(&self.endpoint)
    }

    /// Keeps `answer` about `token` until `until` (seconds), judged at `now`.
    fn install_answer(&self, token: &Credential, answer: &Answer, until: u64, now: u64) {
        let entry = Rc::new(Entry {
            until,
            outcome: self.outcome(answer, now),
        });
        let a = &mut *self.answers.borrow_mut();
        let key = a.inner.key(&self.domain, token.expose().as_bytes());
        a.inner.insert(key, entry);
    }

    fn gave_up(&self) -> Denial {
        Denial::TemporarilyUnavailable(endpoint::BACKOFF_SECONDS)
    }
}
