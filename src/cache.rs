//! A bounded cache of verification outcomes, keyed by a keyed hash of the credential so that
//! neither the credential nor an unkeyed digest of it is ever held in memory.

use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Cache key: SHA-256 over a per-worker secret, a domain (the provider) and the credential.
pub type CacheKey = [u8; 32];

/// Two generations of at most `capacity` entries each: when the young one fills up, the old
/// one is dropped and the young one becomes old. Hits in the old generation are promoted, so
/// credentials in use survive; memory stays bounded at `2 * capacity` entries, every operation
/// is O(1), and no per-entry bookkeeping is needed.
pub struct VerifiedCache<V> {
    secret: [u8; 32],
    capacity: usize,
    young: HashMap<CacheKey, V>,
    old: HashMap<CacheKey, V>,
}

impl<V: Clone> VerifiedCache<V> {
    /// A cache keyed with `secret` (random per worker in production).
    pub fn new(secret: [u8; 32], capacity: usize) -> Self {
        VerifiedCache {
            secret,
            capacity: capacity.max(1),
            young: HashMap::new(),
            old: HashMap::new(),
        }
    }

    /// The keyed hash of `credential` within `domain`.
    pub fn key(&self, domain: &[u8], credential: &[u8]) -> CacheKey {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update((domain.len() as u64).to_le_bytes());
        h.update(domain);
        h.update(credential);
        h.finalize().into()
    }

    /// The cached outcome for `key`, if any.
    pub fn get(&mut self, key: &CacheKey) -> Option<V> {
        if let Some(v) = self.young.get(key) {
            return Some(v.clone());
        }
        let v = self.old.remove(key)?;
        self.insert(*key, v.clone());
        Some(v)
    }

    /// Remembers `value` for `key`.
    pub fn insert(&mut self, key: CacheKey, value: V) {
        if self.young.len() >= self.capacity && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &CacheKey) {
        self.young.remove(key);
        self.old.remove(key);
    }

    /// Keeps only the entries for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.young.retain(|_, v| keep(v));
        self.old.retain(|_, v| keep(v));
    }

    /// Entries currently held (never more than twice the capacity).
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_keeps_hot_entries() {
        let mut c = VerifiedCache::new([7; 32], 4);
        let hot = c.key(b"p", b"hot");
        c.insert(hot, 1);
        for i in 0..100u32 {
            let k = c.key(b"p", &i.to_le_bytes());
            c.insert(k, 0);
            assert_eq!(c.get(&hot), Some(1), "hot entry lost at {i}");
            assert!(c.len() <= 8, "cache grew to {}", c.len());
        }
    }

    #[test]
    fn keys_depend_on_secret_and_domain() {
        let a = VerifiedCache::<u8>::new([1; 32], 1);
        let b = VerifiedCache::<u8>::new([2; 32], 1);
        assert_ne!(a.key(b"p", b"x"), b.key(b"p", b"x"));
        assert_ne!(a.key(b"p", b"x"), a.key(b"q", b"x"));
        assert_ne!(a.key(b"p", b"qx"), a.key(b"pq", b"x"));
    }
}
