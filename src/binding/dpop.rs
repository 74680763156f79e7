//! DPoP proofs (RFC 9449): a JWT the client signs for each request with the key its access
//! token is bound to. Checked exactly as §4.3 lists, then against the token (`ath`, §4.3 check
//! 11; `cnf.jkt`, §6.1). What is left for the caller is the replay check: a proof's `jti` must
//! not have been seen within its window, across every worker ([`ProofUse`]).

use super::htu;
use super::nonce::Age;
use super::thumbprint::jwk_thumbprint;
use crate::cache::VerifiedCache;
use crate::crypto::alg::{Alg, KeyKind};
use crate::crypto::HostSignatures;
use crate::error::Denial;
use crate::jose::jwks::{self, b64url, Jwk};
use crate::jose::verifier;
use crate::json;
use crate::request::Request;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::rc::Rc;

/// Longest proof looked at.
const MAX_PROOF: usize = 8 * 1024;
/// Longest `jti` accepted.
const MAX_JTI: usize = 256;
/// How far in the future a proof's `iat` may be (clock skew between client and proxy).
pub const FUTURE_SKEW_SECONDS: u64 = 5;
/// The algorithms accepted by default (the issue's list; every one asymmetric).
pub const DEFAULT_ALGS: [&str; 4] = ["ES256", "EdDSA", "RS256", "PS256"];
/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A proof that checked out, still to be checked against the replay cache: its `jti` (with
/// the key it was signed with) must be new until `until` (seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofUse {
    /// `<jwk thumbprint>.<jti>`: what must not repeat.
    pub id: String,
    /// When the proof can no longer be accepted anyway, so the replay record may go.
    pub until: u64,
    /// The current server nonce, when the proof's was of the previous step (RFC 9449 §8.2:
    /// the answer gives it, so the client has one before its own ends).
    pub renew: Option<String>,
}

/// A provider's DPoP settings.
pub struct DpopCheck {
    /// The proof algorithms accepted.
    pub algs: Vec<Alg>,
    /// How old a proof's `iat` may be (seconds).
    pub max_age: u64,
    /// The host's signature verification, when in use.
    pub signatures: Option<Rc<dyn HostSignatures>>,
    /// Client keys already parsed and checked (a client signs every proof with the same key;
    /// checking its point is on the curve costs more than the signature), by thumbprint.
    pub keys: RefCell<VerifiedCache<Rc<Jwk>>>,
    /// Server nonces (RFC 9449 §9), when the provider asks for them.
    pub nonces: Option<super::nonce::Nonces>,
    /// Where the scheme of the request URI comes from.
    pub scheme_from: SchemeFrom,
}

/// Where the scheme a proof's `htu` is compared with comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeFrom {
    /// The downstream connection: `https` when it is TLS, else `http`. A client cannot change
    /// it (with Envoy's defaults a client's `x-forwarded-proto` becomes `:scheme`).
    Connection,
    /// The request's `:scheme`, as Envoy set it: trustworthy only where Envoy overwrites or
    /// trusts `x-forwarded-proto` by its settings (`use_remote_address`, `xff_num_trusted_hops`).
    Request,
}

/// Client keys kept per worker.
pub const KEY_CACHE: usize = 256;

impl std::fmt::Debug for DpopCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopCheck")
            .field("algs", &self.algs)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

fn proof_error(why: &'static str) -> Denial {
    Denial::InvalidDpopProof(why)
}

/// The algorithms of `names`, or the name that is not an asymmetric signature algorithm.
/// `EdDSA` and `Ed25519` (RFC 9864) come together: either name accepts and advertises both,
/// since clients sign Ed25519 proofs under one name or the other and cannot choose.
pub fn algs(names: &[String]) -> Result<Vec<Alg>, String> {
    let mut out: Vec<Alg> = Vec::with_capacity(names.len() + 1);
    for n in names {
        let a = match Alg::from_name(n) {
            Some(a) if a.key_kind() != KeyKind::Hmac => a,
            _ => return Err(n.clone()),
        };
        for a in std::iter::once(a).chain(a.twin()) {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

impl DpopCheck {
    /// The `algs` a `DPoP` challenge advertises (RFC 9449 §7.1).
    pub fn advertised(&self) -> String {
        let names: Vec<&str> = self.algs.iter().map(|a| a.name()).collect();
        names.join(" ")
    }

    /// Checks the request's proof for `token`, bound to key `jkt`, at `now` (seconds).
    pub fn check(
        &self,
        req: &Request,
        token: &str,
        jkt: &str,
        now: u64,
    ) -> Result<ProofUse, Denial> {
        // §4.3 check 1: exactly one DPoP header (Envoy may join a repeated one with commas,
        // which no compact JWS contains).
        let proofs = req.header_values("dpop");
        let proof = match proofs.as_slice() {
            [] => return Err(proof_error("no DPoP proof was sent")),
            [one] if !one.contains(',') => one.trim(),
            _ => return Err(proof_error("more than one DPoP proof was sent")),
        };
        if proof.len() > MAX_PROOF {
            return Err(proof_error("the proof is too large"));
        }
        // Check 2: a well-formed JWT.
        let mut parts = proof.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(proof_error("the proof is not a signed JWT"));
        };
        let header = object(h).ok_or(proof_error("the proof's header is malformed"))?;
        // Check 4: typ.
        if !header
            .get("typ")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
        {
            return Err(proof_error("the proof's typ is not dpop+jwt"));
        }
        // Check 5: an asymmetric algorithm from the list (never none, never HMAC).
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(Alg::from_name)
            .filter(|a| self.algs.contains(a))
            .ok_or(proof_error("the proof's algorithm is not accepted"))?;
        // Check 7: a public key.
        let jwk = header
            .get("jwk")
            .filter(|j| j.is_object())
            .ok_or(proof_error("the proof has no jwk header"))?;
        if PRIVATE_MEMBERS.iter().any(|m| jwk.get(*m).is_some()) {
            return Err(proof_error("the proof's jwk holds private key material"));
        }
        let thumbprint = jwk_thumbprint(jwk).unwrap_or_default();
        let key = self
            .key(jwk, &thumbprint)
            .filter(|k| k.accepts(alg))
            .ok_or(proof_error(
                "the proof's jwk is not a key for its algorithm",
            ))?;
        // Check 6: the signature, with that key.
        let signature = b64url(s).ok_or(proof_error("the proof's signature is malformed"))?;
        let input = &proof[..h.len() + 1 + p.len()];
        let (good, _) = verifier::check_with(
            self.signatures.as_ref(),
            alg,
            &key,
            input.as_bytes(),
            &signature,
        );
        if !good {
            return Err(proof_error("the proof's signature is invalid"));
        }
        let claims = object(p).ok_or(proof_error("the proof's claims are malformed"))?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
            .ok_or(proof_error("the proof has no usable jti"))?;
        // Check 8: htm.
        let method = req.method();
        if claims.get("htm").and_then(Value::as_str) != Some(method.as_str()) {
            return Err(proof_error("the proof's htm is not the request method"));
        }
        // Check 9: htu.
        let path = req.path_and_query();
        let authority = req.authority();
        let scheme = match (self.scheme_from, req.connection_tls()) {
            (SchemeFrom::Connection, Some(true)) => Some("https".to_string()),
            (SchemeFrom::Connection, Some(false)) => Some("http".to_string()),
            // A host that cannot tell (the command line's): the request's own.
            (SchemeFrom::Connection, None) | (SchemeFrom::Request, _) => req.header(":scheme"),
        };
        let here = authority.and_then(|a| htu::of_request(scheme.as_deref(), &a, &path));
        let named = claims
            .get("htu")
            .and_then(Value::as_str)
            .and_then(htu::normalize);
        if named.is_none() || named != here {
            return Err(proof_error("the proof's htu is not the request URI"));
        }
        // Check 11: iat within the window.
        let iat = claims
            .get("iat")
            .and_then(Value::as_f64)
            .ok_or(proof_error("the proof has no iat"))?;
        if iat > (now + FUTURE_SKEW_SECONDS) as f64 {
            return Err(proof_error("the proof's iat is in the future"));
        }
        if iat + (self.max_age as f64) < now as f64 {
            return Err(proof_error("the proof is too old"));
        }
        // Check 12: ath, the hash of the token this proof goes with.
        let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
        if claims.get("ath").and_then(Value::as_str) != Some(ath.as_str()) {
            return Err(proof_error(
                "the proof's ath does not match the access token",
            ));
        }
        // The token's binding: its cnf.jkt is this key's thumbprint.
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            thumbprint.as_bytes(),
            jkt.as_bytes(),
        )) {
            return Err(proof_error(
                "the proof's key is not the key the token is bound to",
            ));
        }
        // Check 10: the server's nonce, when it asks for one (§9): a proof without a current
        // one is answered with a fresh one to sign.
        let mut renew = None;
        if let Some(n) = &self.nonces {
            match claims.get("nonce").and_then(|v| n.check(v.as_str()?, now)) {
                Some(Age::Current) => {}
                Some(Age::Previous) => renew = Some(n.issue(now)),
                None => return Err(Denial::UseDpopNonce(n.issue(now))),
            }
        }
        Ok(ProofUse {
            id: format!("{thumbprint}.{jti}"),
            until: (iat.max(0.0) as u64) + self.max_age + FUTURE_SKEW_SECONDS,
            renew,
        })
    }
}

impl DpopCheck {
    /// The key of a proof's `jwk`, parsed once per thumbprint (the thumbprint covers every
    /// member that makes the key, RFC 7638 §3.2).
    fn key(&self, jwk: &Value, thumbprint: &str) -> Option<Rc<Jwk>> {
        if thumbprint.is_empty() {
            return None;
        }
        let cache = &mut *self.keys.borrow_mut();
        let id = cache.key(b"dpop-jwk", thumbprint.as_bytes());
        if let Some(k) = cache.get(&id) {
            return Some(k);
        }
        let key = Rc::new(
            jwks::parse(jwk, true, self.signatures.is_some())
                .ok()?
                .keys
                .into_iter()
                .next()?,
        );
        cache.insert(id, key.clone());
        Some(key)
    }
}

/// A base64url JSON object segment.
fn object(segment: &str) -> Option<Map<String, Value>> {
    match json::parse_strict(&b64url(segment)?) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}
