//! The `basic` provider (RFC 7617): decodes `Authorization: Basic`, looks the user up and
//! checks the password against its bcrypt or `{SHA}` hash in constant time. bcrypt outcomes
//! are cached by a keyed hash of the credential so a client pays for bcrypt once.

mod config;
pub mod htpasswd;

pub use config::RawBasic;

use self::htpasswd::PasswordHash;
use super::{Accepted, CacheUse, Found, HeaderEdits, Provider, Rejection, Setup};
use crate::authorization::Authorization;
use crate::cache::VerifiedCache;
use crate::error::{ConfigError, Denial};
use crate::reply::{Challenge, Scheme};
use crate::request::Request;
use crate::schema::fields;
use crate::schema::section;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::cell::RefCell;
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// Longest `Basic` credential (base64 text) looked at; longer ones are refused unread.
pub const MAX_ENCODED_LEN: usize = 4096;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const WRONG: Denial = Denial::InvalidCredentials("wrong user name or password");
const MALFORMED: Denial = Denial::InvalidCredentials("malformed Basic credentials");

/// Per-worker memory of bcrypt outcomes. Failures are kept apart from successes so that a
/// flood of wrong passwords cannot push out the credentials of real users.
pub struct BasicCache {
    ok: VerifiedCache<u32>,
    bad: VerifiedCache<()>,
    /// bcrypt checks answered from the cache.
    pub hits: u64,
    /// bcrypt checks computed.
    pub misses: u64,
}

impl BasicCache {
    /// Caches of `capacity` entries per generation, keyed with `secret`.
    pub fn new(secret: [u8; 32], capacity: usize) -> Self {
        BasicCache {
            ok: VerifiedCache::new(secret, capacity),
            bad: VerifiedCache::new(secret, capacity),
            hits: 0,
            misses: 0,
        }
    }

    /// Entries held, successes and failures.
    pub fn len(&self) -> usize {
        self.ok.len() + self.bad.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A compiled `basic` provider. Its `Debug` leaves the decoy hash out (the users' hashes
/// print as `Bcrypt(..)` / `Sha1(..)`).
pub struct BasicProvider {
    domain: Vec<u8>,
    index: HashMap<String, u32>,
    users: Vec<(String, PasswordHash)>,
    /// A real bcrypt hash of this provider, checked for unknown users so that their answer
    /// takes as long as a wrong password and does not reveal which users exist.
    decoy: Option<String>,
    /// Header set to the user name upstream.
    pub forward_username_header: Option<String>,
    /// Remove `Authorization` before the request goes upstream.
    pub hide_credentials: bool,
    /// This worker's bcrypt outcomes.
    cache: RefCell<BasicCache>,
}

/// Entries per generation in the per-worker cache of bcrypt outcomes.
pub const CACHE_CAPACITY: usize = 1024;

impl std::fmt::Debug for BasicProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicProvider")
            .field("users", &self.users)
            .field("forward_username_header", &self.forward_username_header)
            .field("hide_credentials", &self.hide_credentials)
            .finish_non_exhaustive()
    }
}

impl BasicProvider {
    /// Validates a raw `basic` provider.
    pub fn compile(setup: &Setup, raw: &RawBasic) -> Result<Self, ConfigError> {
        let (name, field) = (setup.name, setup.field());
        let users = htpasswd::parse(&format!("{field}.htpasswd"), &raw.htpasswd)?;
        let forward_username_header = match &raw.forward_username_header {
            Some(h) => Some(fields::header_to_set(
                &format!("{field}.forward_username_header"),
                h,
            )?),
            None => None,
        };
        let decoy = users.iter().find_map(|(_, h)| match h {
            PasswordHash::Bcrypt(b) => Some(b.clone()),
            PasswordHash::Sha1(_) => None,
        });
        let index = users
            .iter()
            .enumerate()
            .map(|(i, (u, _))| (u.clone(), i as u32))
            .collect();
        Ok(BasicProvider {
            domain: format!("basic/{name}").into_bytes(),
            index,
            users,
            decoy,
            forward_username_header,
            hide_credentials: raw.hide_credentials.unwrap_or(false),
            cache: RefCell::new(BasicCache::new(setup.secret, CACHE_CAPACITY)),
        })
    }

    /// Entries in this worker's bcrypt cache.
    pub fn cached(&self) -> usize {
        self.cache.borrow().len()
    }

    /// Checks the credentials that followed `Basic ` in `Authorization`.
    pub fn check(&self, encoded: &str) -> Result<Accepted, Denial> {
        let cache = &mut *self.cache.borrow_mut();
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(Denial::InvalidCredentials("Basic credentials too long"));
        }
        let decoded = BASE64.decode(encoded).map_err(|_| MALFORMED)?;
        let colon = decoded.iter().position(|&b| b == b':').ok_or(MALFORMED)?;
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        // RFC 7617 §2: neither part may hold control characters.
        if decoded.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(MALFORMED);
        }
        let user = std::str::from_utf8(user).map_err(|_| MALFORMED)?;
        let Some(&idx) = self.index.get(user) else {
            self.waste_time_like_a_check(&decoded, password, cache);
            return Err(WRONG);
        };
        let (name, hash) = &self.users[idx as usize];
        let ok = match hash {
            PasswordHash::Sha1(want) => Sha1::digest(password).ct_eq(want).into(),
            PasswordHash::Bcrypt(h) => self.bcrypt_cached(&decoded, password, h, idx, cache),
        };
        if !ok {
            return Err(WRONG);
        }
        let mut edits = HeaderEdits::default();
        if let Some(h) = &self.forward_username_header {
            edits.set.push((h.clone(), name.clone()));
        }
        if self.hide_credentials {
            edits.remove.push("authorization".into());
        }
        Ok(Accepted {
            edits,
            identity: Some(name.clone()),
            ..Accepted::default()
        })
    }

    fn bcrypt_cached(
        &self,
        decoded: &[u8],
        password: &[u8],
        hash: &str,
        idx: u32,
        cache: &mut BasicCache,
    ) -> bool {
        let key = cache.ok.key(&self.domain, decoded);
        if let Some(cached) = cache.ok.get(&key) {
            cache.hits += 1;
            return cached == idx;
        }
        if cache.bad.get(&key).is_some() {
            cache.hits += 1;
            return false;
        }
        cache.misses += 1;
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            cache.ok.insert(key, idx);
        } else {
            cache.bad.insert(key, ());
        }
        ok
    }

    fn waste_time_like_a_check(&self, decoded: &[u8], password: &[u8], cache: &mut BasicCache) {
        match &self.decoy {
            Some(decoy) => {
                let key = cache.bad.key(&self.domain, decoded);
                if cache.bad.get(&key).is_none() {
                    let _ = bcrypt::verify(password, decoy);
                    cache.bad.insert(key, ());
                }
            }
            None => {
                let _ = Sha1::digest(password);
            }
        }
    }
}

/// Compiles a `basic` provider from its configuration object (the registry's entry).
pub fn from_config(setup: &Setup, value: Value) -> Result<Box<dyn Provider>, ConfigError> {
    let raw: RawBasic = section(&setup.field(), value)?;
    Ok(Box::new(BasicProvider::compile(setup, &raw)?))
}

impl Provider for BasicProvider {
    fn scheme(&self) -> Scheme {
        Scheme::Basic
    }

    /// bcrypt costs above 12: each step doubles the time a cache miss holds Envoy's worker
    /// (measured through Envoy: cost 10 takes 61–66 ms, so 13 takes about half a second).
    fn warnings(&self) -> Vec<String> {
        self.users
            .iter()
            .filter_map(|(name, hash)| match hash {
                PasswordHash::Bcrypt(h) => {
                    let cost: u32 = h.get(4..6)?.parse().ok()?;
                    (cost > 12).then(|| format!("user {name:?} has bcrypt cost {cost}: every cache miss holds a worker about {} ms (cost 10: ~60 ms); 10 to 12 is enough", 60u64 << (cost - 10)))
                }
                _ => None,
            })
            .collect()
    }

    fn challenge(&self, realm: &str) -> Challenge {
        Challenge::basic(realm)
    }

    fn find(&self, _req: &Request, auth: &Authorization) -> Found {
        auth.for_scheme("basic")
            .filter(|c| !c.is_empty())
            .map_or(Found::Absent, |c| Found::One(c.to_string(), 0))
    }

    fn authorization_scheme(&self) -> Option<&'static str> {
        Some("Basic")
    }

    fn reads_authorization(&self, _source: usize) -> bool {
        true
    }

    fn verify(&self, value: &str, _: usize, _: &Request, _: u64) -> Result<Accepted, Rejection> {
        self.check(value).map_err(Rejection::Refused)
    }

    fn headers_read(&self) -> Vec<&str> {
        vec!["authorization"]
    }

    fn headers_set(&self) -> Vec<(&'static str, &str)> {
        self.forward_username_header
            .iter()
            .map(|h| ("forward_username_header", h.as_str()))
            .collect()
    }

    fn take_cache_use(&self) -> Option<CacheUse> {
        let c = &mut *self.cache.borrow_mut();
        Some(CacheUse::take("basic", &mut c.hits, &mut c.misses))
    }
}

#[cfg(test)]
mod tests;
