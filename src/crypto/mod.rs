//! Signature verification by the host where it can (Envoy's BoringSSL through the
//! `verify_signature` foreign function: ~15 µs for RS256, ~35 µs for ES256, against ~600 and
//! ~900 µs in wasm), with the DER conversions it needs; everything else, and every host
//! without the function, verifies in the module. This is the one place that says which
//! algorithm goes where, and what the algorithms are ([`alg`]: the JOSE names, RFC 7518).

pub mod alg;
pub mod der;
pub mod host_call;

use alg::Alg;

/// A host's signing function for one key ([`HostSignatures::signer`]).
pub type Signer = Box<dyn Fn(&[u8]) -> Option<Vec<u8>>>;

/// A host that verifies signatures itself. `verify` is `true` only for a good signature; any
/// error of the host is `false` (fail closed).
pub trait HostSignatures {
    /// Checks `signature` (DER for ECDSA) over `message` with `spki` (DER SubjectPublicKeyInfo)
    /// and digest `hash` (`sha256`, `sha384`, `sha512`): Envoy's `verify_signature`.
    fn verify(&self, hash: &str, spki: &[u8], signature: &[u8], message: &[u8]) -> bool;

    /// Whether this host checks `alg`; by default the algorithms Envoy's function does.
    fn checks(&self, alg: Alg) -> bool {
        host_form(alg).is_some()
    }

    /// Checks a JWS `signature` (RFC 7518 §3: `r || s` for ECDSA) by `alg` over `message`.
    /// By default in Envoy's form: the digest's name and, for ECDSA, a DER signature.
    fn verify_jws(&self, alg: Alg, spki: &[u8], signature: &[u8], message: &[u8]) -> bool {
        match host_form(alg) {
            Some((hash, None)) => self.verify(hash, spki, signature, message),
            Some((hash, Some(c))) => der::ecdsa_signature(signature, c)
                .is_some_and(|sig| self.verify(hash, spki, &sig, message)),
            None => false,
        }
    }

    /// A signer for `alg` (`Es256`, `EdDsa`) with private key `private` (the P-256 scalar, the
    /// Ed25519 seed) and its public half (`public`: the uncompressed SEC 1 point, the Ed25519
    /// key), made once and used for every signature: JWS form (`r || s` for ECDSA), `None`
    /// when a signature fails. `None` when the host does not sign (then the core does).
    fn signer(&self, _alg: Alg, _private: &[u8], _public: &[u8]) -> Option<Signer> {
        None
    }

    /// The start-up line's words for where signatures are verified.
    fn describe(&self) -> String {
        format!(
            "{} verified by the host (Envoy's verify_signature, BoringSSL); every other algorithm in the module",
            host_algorithms().join(" ")
        )
    }
}

/// How an algorithm is handed to the host: the digest name, and for ECDSA the coordinate
/// size of its JWS signature. `None`: the module verifies it (HMAC is a shared secret and
/// needs no public-key crypto; BoringSSL's digest-verify as Envoy exposes it does not do
/// RSA-PSS padding or Ed25519, and its secp256k1 support is not assured).
pub fn host_form(alg: Alg) -> Option<(&'static str, Option<usize>)> {
    Some(match alg {
        Alg::Rs256 => ("sha256", None),
        Alg::Rs384 => ("sha384", None),
        Alg::Rs512 => ("sha512", None),
        Alg::Es256 => ("sha256", Some(32)),
        Alg::Es384 => ("sha384", Some(48)),
        Alg::Es512 => ("sha512", Some(66)),
        _ => return None,
    })
}

/// The algorithms the host verifies, for the start-up line.
pub fn host_algorithms() -> Vec<&'static str> {
    Alg::ALL
        .iter()
        .filter(|a| host_form(**a).is_some())
        .map(|a| a.name())
        .collect()
}
