//! The `basic` provider (RFC 7617): decodes `Authorization: Basic`, looks the user up and
//! checks the password against its bcrypt or `{SHA}` hash in constant time. bcrypt outcomes
//! are cached by a keyed hash of the credential so a client pays for bcrypt once.

use super::htpasswd::{self, PasswordHash};
use super::Verified;
use crate::cache::VerifiedCache;
use crate::config::fields;
use crate::config::raw::RawBasic;
use crate::error::{ConfigError, Denial};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use sha1::{Digest, Sha1};
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
}

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
    /// Validates a raw `basic` provider named `name`.
    pub fn compile(name: &str, raw: &RawBasic) -> Result<Self, ConfigError> {
        let field = format!("providers.{name}");
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
        })
    }

    /// Checks the credentials that followed `Basic ` in `Authorization`.
    pub fn verify(&self, encoded: &str, cache: &mut BasicCache) -> Result<Verified, Denial> {
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
        let mut v = Verified {
            identity: Some(name.clone()),
            ..Verified::default()
        };
        if let Some(h) = &self.forward_username_header {
            v.set.push((h.clone(), name.clone()));
        }
        if self.hide_credentials {
            v.remove.push("authorization".into());
        }
        Ok(v)
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

#[cfg(test)]
mod tests {
    use super::*;

    const HTPASSWD: &str = "alice:$2y$04$8TA3sJd/j/Ip41SKWn5JLewU5TrFEw6KPSpvQfnR9wc9r6wIcqQsm\n\
                            bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=";

    fn provider() -> BasicProvider {
        BasicProvider::compile(
            "staff",
            &RawBasic {
                htpasswd: HTPASSWD.into(),
                forward_username_header: Some("X-Auth-User".into()),
                hide_credentials: None,
            },
        )
        .unwrap()
    }

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn verify_table() {
        let p = provider();
        let mut cache = BasicCache::new([0; 32], 16);
        let cases: &[(&str, String, Result<&str, Denial>)] = &[
            ("bcrypt ok", b64(b"alice:secret"), Ok("alice")),
            ("sha ok", b64(b"bob:secret"), Ok("bob")),
            (
                "no padding",
                b64(b"bob:secret").trim_end_matches('=').into(),
                Ok("bob"),
            ),
            ("bcrypt wrong", b64(b"alice:nope"), Err(WRONG)),
            ("sha wrong", b64(b"bob:nope"), Err(WRONG)),
            ("unknown user", b64(b"carol:secret"), Err(WRONG)),
            ("user is case-sensitive", b64(b"Alice:secret"), Err(WRONG)),
            ("no colon", b64(b"alicesecret"), Err(MALFORMED)),
            ("not base64", "***".into(), Err(MALFORMED)),
            ("empty", String::new(), Err(MALFORMED)),
            ("NUL in password", b64(b"bob:sec\0ret"), Err(MALFORMED)),
            ("non-UTF-8 user", b64(b"\xff:secret"), Err(MALFORMED)),
            (
                "too long",
                "A".repeat(MAX_ENCODED_LEN + 4),
                Err(Denial::InvalidCredentials("Basic credentials too long")),
            ),
        ];
        for (name, input, want) in cases {
            let got = p.verify(input, &mut cache);
            match want {
                Ok(user) => {
                    let v = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(
                        v.set,
                        vec![("x-auth-user".to_string(), user.to_string())],
                        "{name}"
                    );
                }
                Err(d) => assert_eq!(got.unwrap_err(), *d, "{name}"),
            }
        }
    }

    #[test]
    fn password_may_contain_colons() {
        let p = BasicProvider::compile(
            "s",
            &RawBasic {
                htpasswd: format!("u:{{SHA}}{}", b64(&Sha1::digest(b"a:b"))),
                forward_username_header: None,
                hide_credentials: Some(true),
            },
        )
        .unwrap();
        let v = p
            .verify(&b64(b"u:a:b"), &mut BasicCache::new([0; 32], 4))
            .unwrap();
        assert_eq!(v.remove, vec!["authorization".to_string()]);
    }

    #[test]
    fn bcrypt_outcomes_are_cached() {
        let p = provider();
        let mut cache = BasicCache::new([0; 32], 16);
        let good = b64(b"alice:secret");
        assert!(p.verify(&good, &mut cache).is_ok());
        assert!(p.verify(&b64(b"alice:bad"), &mut cache).is_err());
        assert_eq!(cache.len(), 2);
        assert!(p.verify(&good, &mut cache).is_ok());
        assert!(p.verify(&b64(b"alice:bad"), &mut cache).is_err());
        assert_eq!(cache.len(), 2);
    }
}
