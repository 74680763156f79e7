//! Verified tokens, per worker: a client that reuses its token pays for the signature once.
//! Entries are keyed by a keyed hash of the token, re-checked against the clock on every hit,
//! dropped once expired, and dropped with their key when it leaves the key set.

use crate::cache::{CacheKey, VerifiedCache};
use std::rc::Rc;

/// What a successful verification established, enough to answer again without the token.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `exp`, re-checked on each hit.
    pub exp: Option<f64>,
    /// `nbf`, re-checked on each hit.
    pub nbf: Option<f64>,
    /// Fingerprint of the key that verified the signature.
    pub key: u64,
    /// The token's scopes.
    pub scopes: Vec<String>,
    /// Headers for upstream derived from the claims.
    pub set: Vec<(String, String)>,
    /// `sub`, for the audit log.
    pub subject: Option<String>,
    /// Every claim, for rules' `claims` conditions.
    pub claims: Rc<serde_json::Map<String, serde_json::Value>>,
}

/// The per-worker cache of verified tokens.
pub struct TokenCache {
    inner: VerifiedCache<Rc<Verdict>>,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that were not.
    pub misses: u64,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache of `capacity` entries per generation, keyed with `secret`.
    pub fn new(secret: [u8; 32], capacity: usize) -> Self {
        TokenCache {
            inner: VerifiedCache::new(secret, capacity),
            hits: 0,
            misses: 0,
        }
    }

    /// The cache key for `token` under provider `domain`.
    pub fn key(&self, domain: &[u8], token: &str) -> CacheKey {
        self.inner.key(domain, token.as_bytes())
    }

    /// A cached verdict.
    pub fn get(&mut self, key: &CacheKey) -> Option<Rc<Verdict>> {
        let v = self.inner.get(key);
        if v.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        v
    }

    /// Remembers a verdict.
    pub fn insert(&mut self, key: CacheKey, verdict: Rc<Verdict>) {
        self.inner.insert(key, verdict);
    }

    /// Forgets one token (it expired).
    pub fn remove(&mut self, key: &CacheKey) {
        self.inner.remove(key);
    }

    /// Drops every verification made with a key of `old` that is not in `current`.
    pub fn drop_keys(&mut self, old: &[u64], current: &[u64]) {
        self.inner
            .retain(|v| !old.contains(&v.key) || current.contains(&v.key));
    }

    /// Forgets every token (benchmarks measure cache misses with it).
    pub fn clear(&mut self) {
        self.inner.retain(|_| false);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}
