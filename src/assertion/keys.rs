//! The keys that sign assertions: private JWKs (RFC 7517) read from the environment, each turned
//! into a signer from a well-kept crate — ES256 by RustCrypto's `p256` (deterministic nonces,
//! RFC 6979), EdDSA by `ed25519-compact` (RFC 8032) — and into the public JWK that is published.
//! No key material is ever written to a log, an error or a `Debug`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

/// The algorithms assertions are signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// ECDSA with P-256 and SHA-256 (RFC 7518 §3.4).
    Es256,
    /// Ed25519 (RFC 8037), named `EdDSA` or `Ed25519` (RFC 9864).
    EdDsa(&'static str),
}

impl Alg {
    /// The `alg` of a JWS header.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::EdDsa(name) => name,
        }
    }
}

enum Signer {
    Es256(p256::ecdsa::SigningKey),
    #[cfg(feature = "eddsa-signing")]
    Ed25519(Box<ed25519_compact::KeyPair>),
}

/// One signing key and its public half.
pub struct Key {
    /// `kid`: given, or the key's RFC 7638 thumbprint.
    pub kid: String,
    /// The public JWK, as published.
    pub public: Value,
    signer: Signer,
    /// The host's signer for this key, when it has one (ring in the native module and the
    /// service): used first.
    host: Option<crate::crypto::Signer>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid && self.public == other.public
    }
}
impl Eq for Key {}

fn member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("has no `{name}`"))?;
    B64.decode(text)
        .map_err(|_| format!("`{name}` is not base64url"))
}

impl Key {
    /// The signing key in private JWK `jwk`, for `alg`, signed with by the host where it can;
    /// why not, in words that never quote it.
    pub fn from_jwk(
        jwk: &Value,
        alg: Alg,
        host: Option<&dyn crate::crypto::HostSignatures>,
    ) -> Result<Key, String> {
        let jwk = jwk.as_object().ok_or("is not a JSON object")?;
        let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
        let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or("");
        let (signer, public, host) = match (alg, kty, crv) {
            (Alg::Es256, "EC", "P-256") => {
                let d = member(jwk, "d")?;
                let key = p256::ecdsa::SigningKey::from_slice(&d)
                    .map_err(|_| "`d` is not a P-256 private key".to_string())?;
                let point = key.verifying_key().to_encoded_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return Err("has no public point".into());
                };
                let public =
                    json!({"kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(y)});
                let host = host
                    .and_then(|h| h.signer(crate::crypto::alg::Alg::Es256, &d, point.as_bytes()));
                (Signer::Es256(key), public, host)
            }
            #[cfg(feature = "eddsa-signing")]
            (Alg::EdDsa(_), "OKP", "Ed25519") => {
                let d = member(jwk, "d")?;
                let seed = ed25519_compact::Seed::from_slice(&d)
                    .map_err(|_| "`d` is not an Ed25519 private key".to_string())?;
                let pair = ed25519_compact::KeyPair::from_seed(seed);
                let public =
                    json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(pair.pk.as_ref())});
                let host = host
                    .and_then(|h| h.signer(crate::crypto::alg::Alg::EdDsa, &d, pair.pk.as_ref()));
                (Signer::Ed25519(Box::new(pair)), public, host)
            }
            _ => {
                return Err(format!(
                    "is not a key for {} (ES256: kty EC, crv P-256; EdDSA: kty OKP, crv Ed25519)",
                    alg.name()
                ))
            }
        };
        // A public half given with the key must be its own: a mistake here would publish a
        // key that verifies nothing.
        for m in ["x", "y"] {
            if let (Some(given), Some(derived)) = (jwk.get(m), public.get(m)) {
                if given != derived {
                    return Err(format!("`{m}` is not the public half of `d`"));
                }
            }
        }
        let kid = match jwk.get("kid") {
            Some(Value::String(k)) if !k.is_empty() => k.clone(),
            Some(_) => return Err("`kid` must be a non-empty string".into()),
            None => {
                crate::binding::thumbprint::jwk_thumbprint(&public).ok_or("has no thumbprint")?
            }
        };
        let mut published = public;
        if let Some(p) = published.as_object_mut() {
            p.insert("kid".into(), Value::String(kid.clone()));
            p.insert("alg".into(), Value::String(alg.name().into()));
            p.insert("use".into(), Value::String("sig".into()));
        }
        Ok(Key {
            kid,
            public: published,
            signer,
            host,
        })
    }

    /// The signature over `input` (the JWS signing input), 64 bytes for both algorithms.
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        if let Some(signature) = self.host.as_ref().and_then(|h| h(input)) {
            return signature;
        }
        match &self.signer {
            Signer::Es256(key) => {
                use p256::ecdsa::signature::Signer as _;
                let sig: p256::ecdsa::Signature = key.sign(input);
                sig.to_bytes().to_vec()
            }
            #[cfg(feature = "eddsa-signing")]
            Signer::Ed25519(pair) => pair.sk.sign(input, None).to_vec(),
        }
    }
}
