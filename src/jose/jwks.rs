//! JSON Web Key Sets (RFC 7517) into verification keys. Each key's type and curve fix the one
//! algorithm family it can verify; a key's `alg`, when given, narrows that to one algorithm.
//! Private key material, encryption keys and weak keys are never loaded. Key sets are read as
//! issuers publish them: a member that cannot be used is skipped, never the whole set.

use crate::crypto::alg::{Alg, KeyKind};
use crate::crypto::der;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Shortest RSA modulus accepted (NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;
/// Most keys taken from one key set.
pub const MAX_KEYS: usize = 64;

const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Public key material, ready to verify with.
#[derive(Clone)]
pub enum KeyMaterial {
    /// An HMAC secret (`kty: oct`).
    Hmac(Vec<u8>),
    /// `kty: RSA`.
    Rsa(rsa::RsaPublicKey),
    /// `kty: EC`, P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// `kty: EC`, P-384: the host verifies with the key's DER (ES384 is host-only: the module's
    /// P-384 arithmetic was 184 KB of every sidecar's module for what Envoy already verifies).
    P384,
    /// `kty: EC`, P-521: the host verifies with the key's DER; the module has no P-521 code.
    P521,
    /// `kty: EC`, secp256k1.
    Secp256k1(k256::ecdsa::VerifyingKey),
    /// `kty: OKP`, Ed25519.
    Ed25519(ed25519_compact::PublicKey),
}

impl KeyMaterial {
    /// The kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match self {
            KeyMaterial::Hmac(_) => KeyKind::Hmac,
            KeyMaterial::Rsa(_) => KeyKind::Rsa,
            KeyMaterial::P256(_) => KeyKind::P256,
            KeyMaterial::P384 => KeyKind::P384,
            KeyMaterial::P521 => KeyKind::P521,
            KeyMaterial::Secp256k1(_) => KeyKind::Secp256k1,
            KeyMaterial::Ed25519(_) => KeyKind::Ed25519,
        }
    }
}

/// One usable key.
#[derive(Clone)]
pub struct Jwk {
    /// `kid`, when the key has one.
    pub kid: Option<String>,
    /// `alg`, when the key names one.
    pub alg: Option<Alg>,
    /// The key.
    pub material: KeyMaterial,
    /// Identifies the key material, so cached verifications can be dropped with their key.
    pub fingerprint: u64,
    /// The public key as DER SubjectPublicKeyInfo (RSA, P-256, P-384), built once here for a
    /// host that verifies signatures itself.
    pub spki: Option<Vec<u8>>,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No key material in debug output: HMAC keys are secrets.
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kind", &self.material.kind())
            .finish()
    }
}

impl Jwk {
    /// Whether this key may verify a token signed with `alg`.
    pub fn accepts(&self, alg: Alg) -> bool {
        self.material.kind() == alg.key_kind()
            && self.alg.is_none_or(|a| a.same(alg))
            && match (&self.material, alg.hmac_min_key_len()) {
                (KeyMaterial::Hmac(k), Some(min)) => k.len() >= min,
                _ => true,
            }
    }
}

/// A parsed key set and what was left out of it.
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    /// Keys that can verify tokens.
    pub keys: Vec<Jwk>,
    /// Why each left-out key was left out, `keys[i]: reason`.
    pub skipped: Vec<String>,
}

/// Why a key was not taken.
enum KeyError {
    /// A key type, curve or algorithm authgate does not support: RFC 7517 §5 says such a
    /// member SHOULD be ignored, so it is skipped (with a warning) even in a configuration.
    Unsupported(String),
    /// A key that cannot be used (a member missing, of the wrong size or type, a point off
    /// its curve): skipped with a warning, as issuers' sets hold such members beside good
    /// keys (jwt_verify_lib's vectors: a P-521 key with a 65-byte `y` among P-256 keys).
    Malformed(String),
    /// A key that shows a dangerous mistake (private material, a weak RSA modulus, an HMAC
    /// secret too short for its algorithm): refused in a configuration, skipped in a fetched
    /// set (a remote set is not the operator's to fix).
    Dangerous(String),
}

impl From<String> for KeyError {
    fn from(why: String) -> Self {
        KeyError::Malformed(why)
    }
}

impl From<&str> for KeyError {
    fn from(why: &str) -> Self {
        KeyError::Malformed(why.to_string())
    }
}

/// Parses a JWKS document (`{"keys": [...]}`), a single JWK, or an x509 key map
/// ([`super::x509`]). Keys of a type, curve or
/// algorithm authgate does not support, and keys that cannot be used, are skipped and noted
/// (RFC 7517 §5). With `strict` (configuration), a dangerous key is an error; otherwise it is
/// skipped and noted too (a remote set may hold keys for other purposes). A set with no
/// usable key is always an error.
///
/// `host` says whether the host verifies signatures: P-521 keys (ES512) are usable only then.
pub fn parse(value: &Value, strict: bool, host: bool) -> Result<KeySet, String> {
    if let Value::Object(map) = value {
        if super::x509::is_key_map(value) {
            return parse(&super::x509::to_jwks(map), strict, host);
        }
    }
    let list: Vec<&Value> = match value.get("keys") {
        Some(Value::Array(keys)) => keys.iter().collect(),
        Some(_) => return Err("`keys` must be an array".into()),
        None if value.get("kty").is_some() => vec![value],
        None => return Err("not a JWKS: no `keys` array".into()),
    };
    if list.len() > MAX_KEYS {
        return Err(format!("more than {MAX_KEYS} keys"));
    }
    let mut set = KeySet::default();
    let listed = list.len();
    for (i, k) in list.into_iter().enumerate() {
        match parse_key(k, host) {
            Ok(Some(jwk)) => set.keys.push(jwk),
            Ok(None) => {}
            Err(KeyError::Dangerous(why)) if strict => return Err(format!("keys[{i}]: {why}")),
            Err(
                KeyError::Dangerous(why) | KeyError::Malformed(why) | KeyError::Unsupported(why),
            ) => set
                .skipped
                .push(format!("keys[{i}] ({}): {why}", describe(k))),
        }
    }
    if set.keys.is_empty() {
        return Err(match set.skipped.first() {
            Some(first) => format!("no usable signature key ({first})"),
            None if listed == 0 => "no keys".into(),
            None => "no usable signature key (none is for signatures)".into(),
        });
    }
    Ok(set)
}

/// `kid "a", kty "EC", crv "P-521"`: how a warning names a key (public members only).
fn describe(k: &Value) -> String {
    let mut parts = Vec::new();
    for name in ["kid", "kty", "crv", "alg"] {
        if let Some(Value::String(v)) = k.get(name) {
            let v: String = v.chars().take(64).filter(|c| !c.is_control()).collect();
            parts.push(format!("{name} {v:?}"));
        }
    }
    if parts.is_empty() {
        "no kid, kty or crv".into()
    } else {
        parts.join(", ")
    }
}

fn field<'a>(k: &'a Value, name: &str) -> Result<Option<&'a str>, String> {
    match k.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

fn bytes(k: &Value, name: &str) -> Result<Vec<u8>, String> {
    let s = field(k, name)?.ok_or_else(|| format!("`{name}` is missing"))?;
    B64URL
        .decode(s)
        .map_err(|_| format!("`{name}` is not base64url"))
}

fn exact(k: &Value, name: &str, len: usize) -> Result<Vec<u8>, String> {
    let b = bytes(k, name)?;
    if b.len() != len {
        return Err(format!("`{name}` must be {len} bytes"));
    }
    Ok(b)
}

/// An EC coordinate of a curve whose field is `len` bytes. RFC 7518 §6.2.1.2 asks for the
/// full length, but some issuers' encoders drop leading zero bytes: a shorter value is
/// padded back, and the point must then be on the curve like any other.
fn coordinate(k: &Value, name: &str, len: usize) -> Result<Vec<u8>, String> {
    let b = bytes(k, name)?;
    if b.is_empty() || b.len() > len {
        return Err(format!("`{name}` must be {len} bytes"));
    }
    let mut out = vec![0; len - b.len()];
    out.extend_from_slice(&b);
    Ok(out)
}

/// The curve an `alg` fixes, for an EC or OKP key that names none (ES256 is P-256 only,
/// RFC 7518 §3.4; Ed25519 is Ed25519 only, RFC 9864). `EdDSA` fixes none.
fn curve_of(alg: Option<Alg>) -> Option<&'static str> {
    Some(match alg?.key_kind() {
        KeyKind::P256 => "P-256",
        KeyKind::P384 => "P-384",
        KeyKind::P521 => "P-521",
        KeyKind::Secp256k1 => "secp256k1",
        KeyKind::Ed25519 if alg == Some(Alg::Ed25519) => "Ed25519",
        _ => return None,
    })
}

/// `Ok(None)`: a well-formed key that is not for signatures (`use: enc`).
fn parse_key(k: &Value, host: bool) -> Result<Option<Jwk>, KeyError> {
    if !k.is_object() {
        return Err("a key must be an object".into());
    }
    if field(k, "use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    if let Some(Value::Array(ops)) = k.get("key_ops") {
        if !ops.iter().any(|o| o == "verify") {
            return Ok(None);
        }
    }
    if k.get("d").is_some() || k.get("p").is_some() {
        return Err(KeyError::Dangerous(
            "holds private key material (`d`); publish only public keys".into(),
        ));
    }
    let kid = field(k, "kid")?.map(str::to_string);
    let alg = match field(k, "alg")? {
        None => None,
        Some(name) => Some(
            Alg::from_name(name)
                .ok_or_else(|| KeyError::Unsupported(format!("unsupported `alg` {name:?}")))?,
        ),
    };
    let kty = field(k, "kty")?.ok_or("`kty` is missing")?;
    let crv = match (kty, field(k, "crv")?) {
        ("EC" | "OKP", None) => curve_of(alg),
        (_, crv) => crv,
    };
    let mut spki = None;
    let material = match (kty, crv) {
        ("oct", _) => {
            let secret = bytes(k, "k")?;
            let min = alg.and_then(Alg::hmac_min_key_len).unwrap_or(32);
            if secret.len() < min {
                return Err(KeyError::Dangerous(format!(
                    "HMAC secret is {} bytes; at least {min} are needed (RFC 7518 §3.2)",
                    secret.len()
                )));
            }
            KeyMaterial::Hmac(secret)
        }
        ("RSA", _) => {
            let (n_bytes, e_bytes) = (bytes(k, "n")?, bytes(k, "e")?);
            spki = Some(der::rsa_spki(&n_bytes, &e_bytes));
            let n = rsa::BigUint::from_bytes_be(&n_bytes);
            let e = rsa::BigUint::from_bytes_be(&e_bytes);
            if n.bits() < MIN_RSA_BITS {
                return Err(KeyError::Dangerous(format!(
                    "RSA key is {} bits; at least {MIN_RSA_BITS} are needed",
                    n.bits()
                )));
            }
            KeyMaterial::Rsa(rsa::RsaPublicKey::new(n, e).map_err(|e| format!("bad RSA key: {e}"))?)
        }
        ("EC", Some("P-256")) => {
            let (x, y) = (coordinate(k, "x", 32)?, coordinate(k, "y", 32)?);
            spki = Some(der::ec_spki(der::OID_P256, &x, &y));
            let point = p256::EncodedPoint::from_affine_coordinates(
                x.as_slice().into(),
                y.as_slice().into(),
                false,
            );
            KeyMaterial::P256(
                p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                    .map_err(|_| "not a point on P-256")?,
            )
        }
        ("EC", Some("P-384")) if host => {
            let (x, y) = (coordinate(k, "x", 48)?, coordinate(k, "y", 48)?);
            if !on_curve(&P384, &x, &y) {
                return Err("not a point on P-384".into());
            }
            spki = Some(der::ec_spki(der::OID_P384, &x, &y));
            KeyMaterial::P384
        }
        ("EC", Some("P-384")) => {
            return Err(KeyError::Unsupported(
                "curve \"P-384\" (ES384) is verified only by the host's verify_signature, which is not in use".into(),
            ))
        }
        ("EC", Some("P-521")) if host => {
            let (x, y) = (coordinate(k, "x", 66)?, coordinate(k, "y", 66)?);
            if !on_curve(&P521, &x, &y) {
                return Err("not a point on P-521".into());
            }
            spki = Some(der::ec_spki(der::OID_P521, &x, &y));
            KeyMaterial::P521
        }
        ("EC", Some("P-521")) => {
            return Err(KeyError::Unsupported(
                "curve \"P-521\" (ES512) is verified only by the host's verify_signature, which is not in use".into(),
            ))
        }
        ("EC", Some("secp256k1")) => {
            let point = k256::EncodedPoint::from_affine_coordinates(
                coordinate(k, "x", 32)?.as_slice().into(),
                coordinate(k, "y", 32)?.as_slice().into(),
                false,
            );
            KeyMaterial::Secp256k1(
                k256::ecdsa::VerifyingKey::from_encoded_point(&point)
                    .map_err(|_| "not a point on secp256k1")?,
            )
        }
        ("OKP", Some("Ed25519")) => {
            let x = exact(k, "x", 32)?;
            spki = Some(der::ed25519_spki(&x));
            KeyMaterial::Ed25519(
                ed25519_compact::PublicKey::from_slice(&x)
                    .map_err(|_| "not an Ed25519 public key")?,
            )
        }
        ("EC", Some(c)) | ("OKP", Some(c)) => {
            return Err(KeyError::Unsupported(format!("unsupported curve {c:?}")))
        }
        ("EC", None) | ("OKP", None) => {
            return Err(KeyError::Malformed(
                "no `crv`, and no `alg` that fixes the curve".into(),
            ))
        }
        (other, _) => {
            return Err(KeyError::Unsupported(format!(
                "unsupported key type {other:?}"
            )))
        }
    };
    if let Some(a) = alg {
        if a.key_kind() != material.kind() {
            return Err(format!("`alg` {} does not fit this key type", a.name()).into());
        }
    }
    let fingerprint = fingerprint(k);
    Ok(Some(Jwk {
        kid,
        alg,
        material,
        fingerprint,
        spki,
    }))
}

/// A NIST prime curve y² = x³ − 3x + b (mod p), for the curves only the host verifies.
struct Curve {
    /// p, from its special form.
    p: fn() -> rsa::BigUint,
    /// b, in hex.
    b: &'static str,
}

/// P-384 (SEC 2 §2.5.1): p = 2^384 − 2^128 − 2^96 + 2^32 − 1.
const P384: Curve = Curve {
    p: || {
        use rsa::BigUint;
        let two = |e: usize| BigUint::from(1u8) << e;
        two(384) - two(128) - two(96) + two(32) - BigUint::from(1u8)
    },
    b: "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
};

/// P-521 (SEC 2 §2.6.1): p = 2^521 − 1.
const P521: Curve = Curve {
    p: || (rsa::BigUint::from(1u8) << 521usize) - rsa::BigUint::from(1u8),
    b: "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00",
};

/// Whether (x, y) is on `curve`: both below p and y² = x³ − 3x + b (mod p). The module never
/// verifies with these curves, but a point off the curve is refused at load as on every other
/// curve, and before the host ever sees it.
fn on_curve(curve: &Curve, x: &[u8], y: &[u8]) -> bool {
    use rsa::BigUint;
    let p = (curve.p)();
    let Some(b) = BigUint::parse_bytes(curve.b.as_bytes(), 16) else {
        return false;
    };
    let (x, y) = (BigUint::from_bytes_be(x), BigUint::from_bytes_be(y));
    if x >= p || y >= p {
        return false;
    }
    let lhs = (&y * &y) % &p;
    let three_x = (BigUint::from(3u8) * &x) % &p;
    let rhs = ((&x * &x % &p) * &x + &b + &p - three_x) % &p;
    lhs == rhs
}

/// SHA-256 over the fields that make up the key (RFC 7638's members), first 8 bytes.
fn fingerprint(k: &Value) -> u64 {
    let mut h = Sha256::new();
    for name in ["kty", "crv", "n", "e", "x", "y", "k", "alg", "kid"] {
        h.update(name.as_bytes());
        h.update([0]);
        if let Some(Value::String(s)) = k.get(name) {
            h.update(s.as_bytes());
        }
        h.update([0]);
    }
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Decodes a base64url token segment.
pub fn b64url(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}
