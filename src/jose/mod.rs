//! JOSE below every user of it: JWK sets read strictly (RFC 7517), Google's X.509 key maps
//! turned into them, and the verifier that checks a JWS signature with a key from a set (by
//! the host where it can, [`crate::crypto`]). Used by the `jwt` provider, introspection's
//! bound tokens, DPoP proofs (RFC 9449) and the command line.

pub mod jwks;
pub mod verifier;
pub mod x509;
