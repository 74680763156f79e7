//! The signed identity assertion: a short-lived JWT authgate signs for the upstream, saying who
//! the caller is (`sub`), for which upstream (`aud`), until when, through which provider, with
//! which scopes and claims — so a service can verify the caller with any JOSE library against
//! the keys authgate publishes at `jwks_path`, whoever reaches it on the network. [`keys`] holds
//! the signing keys; this module the top-level `assertion` section, the published key set, and
//! the signing with its short per-worker cache.

pub mod keys;
#[cfg(test)]
mod tests;

use crate::cache::VerifiedCache;
use crate::error::ConfigError;
use crate::schema::decode::raw_struct;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use keys::{Alg, Key};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::rc::Rc;

raw_struct! {
    /// Top-level `assertion`.
    #[derive(Debug)]
    pub struct RawAssertion {
        /// The request header the upstream receives it in (default `x-authgate-assertion`).
        pub header: Option<String>,
        /// `iss` of every assertion.
        pub issuer: String,
        /// The environment variable holding the private keys, a JWK set: the first signs, all
        /// are published.
        pub keys_env: String,
        /// `ES256` or `EdDSA` (also `Ed25519`).
        pub alg: String,
        /// How long an assertion is valid (default 60).
        pub lifetime_seconds: Option<u64>,
        /// Claims of the caller's credential copied into the assertion.
        pub claims: Option<Vec<String>>,
        /// Where the public keys are served (default `/.well-known/authgate/jwks.json`).
        pub jwks_path: Option<String>,
    }
}

/// Claims authgate writes itself: a listed claim cannot replace them.
const OWN: [&str; 9] = [
    "iss", "sub", "aud", "iat", "exp", "jti", "provider", "scope", "act",
];

/// A compiled `assertion`.
pub struct Assertion {
    /// The request header it goes in.
    pub header: String,
    /// `iss`.
    pub issuer: String,
    alg: Alg,
    /// The keys; the first signs.
    keys: Vec<Key>,
    /// Seconds an assertion is valid.
    pub lifetime: u64,
    /// Claims copied from the credential.
    pub claims: Vec<String>,
    /// Where the key set is served.
    pub jwks_path: String,
    /// The key set, rendered once.
    pub jwks: String,
    /// Assertions signed lately, by a hash of what they say (times and `jti` aside).
    signed: RefCell<VerifiedCache<Rc<(String, u64)>>>,
    /// The host's randomness, for `jti`.
    random: Option<crate::capabilities::Random>,
    /// Assertions signed by this worker: `jti`'s fallback where the host has no randomness.
    count: std::cell::Cell<u64>,
}

impl std::fmt::Debug for Assertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertion")
            .field("header", &self.header)
            .field("issuer", &self.issuer)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Assertion {
    fn eq(&self, other: &Self) -> bool {
        self.header == other.header && self.jwks == other.jwks && self.issuer == other.issuer
    }
}
impl Eq for Assertion {}

/// How long a signed assertion is used again for the same caller: a few seconds, and never
/// once more than a quarter of its life has passed.
fn reuse_seconds(lifetime: u64) -> u64 {
    (lifetime / 4).min(5)
}

impl Assertion {
    /// Validates `raw`; the keys come from `env`, `jti` from `random`; the host signs where
    /// it can (`signatures`).
    pub fn compile(
        raw: &RawAssertion,
        env: crate::capabilities::Env,
        random: Option<crate::capabilities::Random>,
        signatures: Option<&dyn crate::crypto::HostSignatures>,
    ) -> Result<Self, ConfigError> {
        let at = |f: &str| format!("assertion.{f}");
        let header = crate::schema::fields::header_to_set(
            &at("header"),
            raw.header.as_deref().unwrap_or("x-authgate-assertion"),
        )?;
        if raw.issuer.is_empty() || !crate::schema::fields::is_plain_value(&raw.issuer) {
            return Err(ConfigError::new(
                at("issuer"),
                "must be visible ASCII characters without quotes or backslashes",
            ));
        }
        let alg = match raw.alg.as_str() {
            "ES256" => Alg::Es256,
            #[cfg(feature = "eddsa-signing")]
            "EdDSA" => Alg::EdDsa("EdDSA"),
            #[cfg(feature = "eddsa-signing")]
            "Ed25519" => Alg::EdDsa("Ed25519"),
            #[cfg(not(feature = "eddsa-signing"))]
            "EdDSA" | "Ed25519" => {
                return Err(ConfigError::new(
                    at("alg"),
                    "EdDSA signing is not built into the wasm filter (it would add 52 KB to every sidecar): use `ES256` here, or EdDSA with the native module or the service",
                ))
            }
            _ => return Err(ConfigError::new(at("alg"), "must be `ES256` or `EdDSA`")),
        };
        let lifetime = raw.lifetime_seconds.unwrap_or(60);
        if !(1..=3600).contains(&lifetime) {
            return Err(ConfigError::new(
                at("lifetime_seconds"),
                "must be 1 to 3600: an assertion is short-lived",
            ));
        }
        let claims = raw.claims.clone().unwrap_or_default();
        for (i, c) in claims.iter().enumerate() {
            if c.is_empty() || OWN.contains(&c.as_str()) {
                return Err(ConfigError::new(
                    format!("assertion.claims[{i}]"),
                    "must name a claim of the credential other than those authgate writes (iss, sub, aud, iat, exp, jti, provider, scope, act)",
                ));
            }
        }
        let jwks_path = raw
            .jwks_path
            .clone()
            .unwrap_or_else(|| "/.well-known/authgate/jwks.json".into());
        if !jwks_path.starts_with('/')
            || crate::path::normal(&jwks_path)
                .map(|n| n.path != jwks_path.as_str())
                .unwrap_or(true)
        {
            return Err(ConfigError::new(
                at("jwks_path"),
                "must be a path in normal form, starting with `/`",
            ));
        }
        let text = crate::capabilities::secrets::value_of(env, &at("keys_env"), &raw.keys_env)?;
        let keys_at = format!("{} (named by assertion.keys_env)", raw.keys_env);
        let set: Value = serde_json::from_slice(text.as_bytes()).map_err(|_| {
            ConfigError::new(&keys_at, "is not a JSON JWK set (`{\"keys\": [...]}`)")
        })?;
        let list = set
            .get("keys")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| ConfigError::new(&keys_at, "has no `keys` (a non-empty list)"))?;
        let mut keys = Vec::with_capacity(list.len());
        for (i, jwk) in list.iter().enumerate() {
            let key = Key::from_jwk(jwk, alg, signatures)
                .map_err(|why| ConfigError::new(format!("{keys_at} keys[{i}]"), why))?;
            if keys.iter().any(|k: &Key| k.kid == key.kid) {
                return Err(ConfigError::new(
                    format!("{keys_at} keys[{i}]"),
                    "has the `kid` of an earlier key",
                ));
            }
            keys.push(key);
        }
        let published: Vec<Value> = keys.iter().map(|k| k.public.clone()).collect();
        let jwks = serde_json::json!({ "keys": published }).to_string();
        Ok(Assertion {
            header,
            issuer: raw.issuer.clone(),
            alg,
            keys,
            lifetime,
            claims,
            jwks_path,
            jwks,
            signed: RefCell::new(VerifiedCache::new([0; 32], 1024)),
            random,
            count: std::cell::Cell::new(0),
        })
    }

    /// The `kid` of the key that signs.
    pub fn signing_kid(&self) -> &str {
        self.keys.first().map_or("", |k| k.kid.as_str())
    }

    /// A fresh `jti`: 16 random bytes from the host, hex; where the host has none, a hash of
    /// what is asserted, the time and this worker's count (unique per worker).
    fn jti(&self, said: &str, now: u64) -> String {
        let mut bytes = [0u8; 16];
        let random = self.random.as_ref().is_some_and(|r| r(&mut bytes));
        if !random {
            use sha2::{Digest, Sha256};
            self.count.set(self.count.get() + 1);
            let d = Sha256::digest(format!("{said}|{now}|{}", self.count.get()).as_bytes());
            bytes.copy_from_slice(&d[..16]);
        }
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The assertion for `claims` (authgate's own and the copied ones, without `iss`, `iat`,
    /// `exp` and `jti`) at `now`: signed now, or one signed for the same claims in the last
    /// few seconds.
    pub fn sign(&self, claims: Map<String, Value>, now: u64) -> String {
        let said = Value::Object(claims.clone()).to_string();
        let cache_key = {
            use sha2::{Digest, Sha256};
            let digest: [u8; 32] = Sha256::digest(said.as_bytes()).into();
            digest
        };
        if let Some(kept) = self.signed.borrow_mut().get(&cache_key) {
            if now < kept.1 + reuse_seconds(self.lifetime) && kept.1 <= now {
                return kept.0.clone();
            }
        }
        let jti = self.jti(&said, now);
        let mut payload = claims;
        payload.insert("iss".into(), Value::String(self.issuer.clone()));
        payload.insert("iat".into(), Value::from(now));
        payload.insert("exp".into(), Value::from(now + self.lifetime));
        payload.insert("jti".into(), Value::String(jti));
        let kid = self.signing_kid();
        let header = serde_json::json!({"alg": self.alg.name(), "typ": "JWT", "kid": kid});
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(Value::Object(payload).to_string())
        );
        // Compiled with at least one key: there is always a first.
        let signature = self
            .keys
            .first()
            .map(|k| k.sign(input.as_bytes()))
            .unwrap_or_default();
        let jwt = format!("{input}.{}", B64.encode(signature));
        self.signed
            .borrow_mut()
            .insert(cache_key, Rc::new((jwt.clone(), now)));
        jwt
    }
}
