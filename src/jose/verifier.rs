//! Signature verification: one match from (algorithm, key) to the jwt-compact algorithm that
//! checks it. A key of the wrong kind never reaches a verifier: the match has no arm for it.

use super::jwks::{Jwk, KeyMaterial};
use crate::crypto::alg::Alg;
use crate::crypto::HostSignatures;
use jwt_compact::alg::{
    Ed25519, Es256, Es256k, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, Rsa,
};
use jwt_compact::{Algorithm, AlgorithmSignature};
use std::rc::Rc;

/// One signature check: by the host when it verifies `alg` and the key's DER was built at
/// load, otherwise in the module. A host that fails in any way says "no". Returns whether the
/// signature is good and whether the host checked it.
pub fn check_with(
    host: Option<&Rc<dyn HostSignatures>>,
    alg: Alg,
    k: &Jwk,
    input: &[u8],
    signature: &[u8],
) -> (bool, bool) {
    if let Some((host, spki)) = host.zip(k.spki.as_ref()).filter(|(h, _)| h.checks(alg)) {
        return (host.verify_jws(alg, spki, signature, input), true);
    }
    (verify(alg, &k.material, input, signature), false)
}

/// Checks `signature` over `signing_input` (`header.payload`, RFC 7515 §5.2).
pub fn verify(alg: Alg, key: &KeyMaterial, signing_input: &[u8], signature: &[u8]) -> bool {
    match (alg, key) {
        (Alg::Hs256, KeyMaterial::Hmac(k)) => {
            check(&Hs256, &Hs256Key::new(k), signing_input, signature)
        }
        (Alg::Hs384, KeyMaterial::Hmac(k)) => {
            check(&Hs384, &Hs384Key::new(k), signing_input, signature)
        }
        (Alg::Hs512, KeyMaterial::Hmac(k)) => {
            check(&Hs512, &Hs512Key::new(k), signing_input, signature)
        }
        (Alg::Rs256, KeyMaterial::Rsa(k)) => check(&Rsa::rs256(), k, signing_input, signature),
        (Alg::Rs384, KeyMaterial::Rsa(k)) => check(&Rsa::rs384(), k, signing_input, signature),
        (Alg::Rs512, KeyMaterial::Rsa(k)) => check(&Rsa::rs512(), k, signing_input, signature),
        (Alg::Ps256, KeyMaterial::Rsa(k)) => check(&Rsa::ps256(), k, signing_input, signature),
        (Alg::Ps384, KeyMaterial::Rsa(k)) => check(&Rsa::ps384(), k, signing_input, signature),
        (Alg::Ps512, KeyMaterial::Rsa(k)) => check(&Rsa::ps512(), k, signing_input, signature),
        (Alg::Es256, KeyMaterial::P256(k)) => check(&Es256, k, signing_input, signature),
        (Alg::Es256k, KeyMaterial::Secp256k1(k)) => check(
            &Es256k::<sha2::Sha256>::default(),
            k,
            signing_input,
            signature,
        ),
        (Alg::EdDsa | Alg::Ed25519, KeyMaterial::Ed25519(k)) => {
            check(&Ed25519, k, signing_input, signature)
        }
        _ => false,
    }
}

fn check<A: Algorithm>(alg: &A, key: &A::VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    // Fixed-length signatures are checked for length first: some `try_from_slice`
    // implementations assume it (as jwt-compact's own validator does).
    if A::Signature::LENGTH.is_some_and(|len| len.get() != signature.len()) {
        return false;
    }
    match A::Signature::try_from_slice(signature) {
        Ok(sig) => alg.verify_signature(&sig, key, message),
        Err(_) => false,
    }
}
