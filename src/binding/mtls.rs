//! Certificate-bound tokens (RFC 8705 §3): the token's `cnf["x5t#S256"]` is the base64url
//! SHA-256 of the client certificate the request came with — taken from the TLS connection
//! Envoy terminated, or, only when configured, from the `Hash` a trusted proxy in front wrote
//! into `x-forwarded-client-cert`.

use crate::error::Denial;
use crate::request::Request;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Where the client certificate is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertSource {
    /// The TLS connection Envoy terminated (`connection.sha256_peer_certificate_digest`).
    Connection,
    /// The first element's `Hash` of `x-forwarded-client-cert`, set by a trusted proxy.
    Xfcc,
}

/// SHA-256 bytes of a hex digest.
fn from_hex(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.trim().trim_matches('"');
    if hex.len() != 64 {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The `Hash` of the first element of an `x-forwarded-client-cert` value: the client of the
/// first proxy that terminated TLS (each proxy after it appends its own element).
fn xfcc_hash(value: &str) -> Option<&str> {
    let first = value.split(',').next()?;
    first.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("hash").then_some(v)
    })
}

/// The client certificate's thumbprint (base64url SHA-256 of its DER), as RFC 8705 §3.1 writes
/// it, read from `source`.
pub fn thumbprint(req: &Request, source: CertSource) -> Option<String> {
    let hex = match source {
        CertSource::Connection => req.peer_certificate_sha256()?,
        CertSource::Xfcc => xfcc_hash(&req.header("x-forwarded-client-cert")?)?.to_string(),
    };
    Some(URL_SAFE_NO_PAD.encode(from_hex(&hex)?))
}

/// Checks that the token bound to `x5t` came with that certificate.
pub fn check(req: &Request, source: CertSource, x5t: &str) -> Result<(), Denial> {
    let Some(presented) = thumbprint(req, source) else {
        return Err(Denial::InvalidCredentials(
            "the token is bound to a client certificate and none was presented",
        ));
    };
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        presented.as_bytes(),
        x5t.as_bytes(),
    )) {
        Ok(())
    } else {
        Err(Denial::InvalidCredentials(
            "the token is bound to another client certificate",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_xfcc_element_names_the_client() {
        // Envoy's documented form: By=...;Hash=...;Subject="...";URI=..., elements by commas.
        let v = r#"By=spiffe://cluster.local/ns/a/sa/gw;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;Subject="CN=client";URI=,By=spiffe://x;Hash=0000000000000000000000000000000000000000000000000000000000000000"#;
        assert_eq!(
            xfcc_hash(v),
            Some("468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688")
        );
        assert_eq!(from_hex("zz"), None);
        assert_eq!(
            from_hex("468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688")
                .map(|b| b.len()),
            Some(32)
        );
    }
}
