//! Sender constraints on tokens, so that a stolen token is useless: DPoP (RFC 9449, [`dpop`])
//! and certificate-bound tokens (RFC 8705, [`mtls`]). A token provider (`jwt`,
//! `introspection`) checks the token itself, then asks [`Binding::check`] whether this request
//! may use it: the token's `cnf` says what it is bound to, the configuration what is allowed
//! or required.

pub mod dpop;
pub mod htu;
pub mod mtls;
pub mod nonce;
pub mod thumbprint;

use crate::cache::VerifiedCache;
use crate::crypto::HostSignatures;
use crate::error::{ConfigError, Denial};
use crate::request::Request;
use dpop::{DpopCheck, ProofUse};
use mtls::CertSource;
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;

/// `"required"` or `"allowed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bound tokens are checked; unbound ones pass as plain bearer tokens.
    Allowed,
    /// Only bound tokens are accepted.
    Required,
}

/// The binding fields of a token provider's configuration, as written.
#[derive(Default, Clone, Copy)]
pub struct RawBinding<'a> {
    /// `dpop`.
    pub dpop: Option<&'a str>,
    /// `dpop_algs`.
    pub dpop_algs: Option<&'a [String]>,
    /// `dpop_max_age_seconds`.
    pub dpop_max_age_seconds: Option<u64>,
    /// `dpop_nonce`.
    pub dpop_nonce: Option<&'a nonce::RawDpopNonce>,
    /// `mtls_bound`.
    pub mtls_bound: Option<&'a str>,
    /// `client_cert_from`.
    pub client_cert_from: Option<&'a str>,
    /// `dpop_scheme_from`.
    pub dpop_scheme_from: Option<&'a str>,
}

/// A provider's sender constraints.
#[derive(Debug, Default)]
pub struct Binding {
    /// DPoP, when configured.
    pub dpop: Option<(Mode, DpopCheck)>,
    /// Certificate binding, when configured.
    pub mtls: Option<(Mode, CertSource)>,
}

fn mode(field: &str, value: Option<&str>) -> Result<Option<Mode>, ConfigError> {
    match value {
        None => Ok(None),
        Some("allowed") => Ok(Some(Mode::Allowed)),
        Some("required") => Ok(Some(Mode::Required)),
        Some(_) => Err(ConfigError::new(field, "must be `required` or `allowed`")),
    }
}

impl Binding {
    /// Validates the binding fields of provider `field`.
    pub fn compile(
        field: &str,
        raw: RawBinding,
        (signatures, secret): (Option<Rc<dyn HostSignatures>>, [u8; 32]),
        env: crate::capabilities::Env,
    ) -> Result<Self, ConfigError> {
        let at = |f: &str| format!("{field}.{f}");
        let dpop_mode = mode(&at("dpop"), raw.dpop)?;
        let needs_dpop = [
            ("dpop_algs", raw.dpop_algs.is_some()),
            ("dpop_max_age_seconds", raw.dpop_max_age_seconds.is_some()),
            ("dpop_nonce", raw.dpop_nonce.is_some()),
            ("dpop_scheme_from", raw.dpop_scheme_from.is_some()),
        ];
        if let (None, Some((name, _))) = (dpop_mode, needs_dpop.iter().find(|(_, set)| *set)) {
            return Err(ConfigError::new(at(name), "needs `dpop`"));
        }
        let dpop = match dpop_mode {
            None => None,
            Some(m) => {
                let defaults: Vec<String> =
                    dpop::DEFAULT_ALGS.iter().map(|a| a.to_string()).collect();
                let algs = dpop::algs(raw.dpop_algs.unwrap_or(&defaults)).map_err(|name| {
                    ConfigError::new(
                        at("dpop_algs"),
                        format!(
                            "{name:?} is not an asymmetric signature algorithm (RFC 9449 §4.2)"
                        ),
                    )
                })?;
                if algs.is_empty() {
                    return Err(ConfigError::new(at("dpop_algs"), "must not be empty"));
                }
                let max_age = raw.dpop_max_age_seconds.unwrap_or(60);
                if !(1..=3600).contains(&max_age) {
                    return Err(ConfigError::new(
                        at("dpop_max_age_seconds"),
                        "must be 1 to 3600",
                    ));
                }
                let keys = RefCell::new(VerifiedCache::new(secret, dpop::KEY_CACHE));
                let scheme_from = match raw.dpop_scheme_from {
                    None | Some("connection") => dpop::SchemeFrom::Connection,
                    Some("request") => dpop::SchemeFrom::Request,
                    Some(_) => {
                        return Err(ConfigError::new(
                            at("dpop_scheme_from"),
                            "must be `connection` or `request`",
                        ))
                    }
                };
                let nonces = match raw.dpop_nonce {
                    Some(n) => Some(nonce::compile(&at("dpop_nonce"), n, env)?),
                    None => None,
                };
                Some((
                    m,
                    DpopCheck {
                        algs,
                        max_age,
                        signatures,
                        keys,
                        nonces,
                        scheme_from,
                    },
                ))
            }
        };
        let mtls_mode = mode(&at("mtls_bound"), raw.mtls_bound)?;
        let source = match raw.client_cert_from {
            None | Some("connection") => CertSource::Connection,
            Some("xfcc") => CertSource::Xfcc,
            Some(_) => {
                return Err(ConfigError::new(
                    at("client_cert_from"),
                    "must be `connection` or `xfcc`",
                ))
            }
        };
        if mtls_mode.is_none() && raw.client_cert_from.is_some() {
            return Err(ConfigError::new(
                at("client_cert_from"),
                "needs `mtls_bound`",
            ));
        }
        Ok(Binding {
            dpop,
            mtls: mtls_mode.map(|m| (m, source)),
        })
    }

    /// The challenges of a token provider with these constraints: `Bearer`, and `DPoP` with
    /// the proof algorithms when DPoP is allowed; `DPoP` alone when it is required.
    pub fn challenges(&self, realm: &str) -> Vec<crate::reply::Challenge> {
        use crate::reply::Challenge;
        match &self.dpop {
            None => vec![Challenge::bearer(realm)],
            Some((Mode::Allowed, d)) => {
                vec![
                    Challenge::bearer(realm),
                    Challenge::dpop(realm, &d.advertised()),
                ]
            }
            Some((Mode::Required, d)) => vec![Challenge::dpop(realm, &d.advertised())],
        }
    }

    /// Whether the client certificate of the connection is needed.
    pub fn needs_peer_certificate(&self) -> bool {
        matches!(self.mtls, Some((_, CertSource::Connection)))
    }

    /// Whether a token may be presented as a bearer token (not with `dpop: required`).
    pub fn takes_bearer(&self) -> bool {
        !matches!(self.dpop, Some((Mode::Required, _)))
    }

    /// May this request use a token with confirmation `cnf` (RFC 7800), sent with the DPoP
    /// scheme (`dpop_scheme`) or as a bearer token? A DPoP proof that checked out is returned
    /// for the replay check.
    pub fn check(
        &self,
        cnf: Option<&Value>,
        dpop_scheme: bool,
        token: &str,
        req: &Request,
        now: u64,
    ) -> Result<Option<ProofUse>, Denial> {
        let member = |name: &str| cnf.and_then(|c| c.get(name)).and_then(Value::as_str);
        let mut proof = None;
        if let Some((_, check)) = &self.dpop {
            match (dpop_scheme, member("jkt")) {
                (true, Some(jkt)) => proof = Some(check.check(req, token, jkt, now)?),
                (true, None) => {
                    return Err(Denial::InvalidCredentials(
                        "the token is not bound to a DPoP key",
                    ))
                }
                // RFC 9449 §7.2: a DPoP-bound token is never accepted as a bearer token.
                (false, Some(_)) => {
                    return Err(Denial::InvalidCredentials(
                        "a DPoP-bound token was sent as a bearer token",
                    ))
                }
                (false, None) => {}
            }
        }
        if let Some((m, source)) = &self.mtls {
            match (member("x5t#S256"), m) {
                (Some(x5t), _) => mtls::check(req, *source, x5t)?,
                (None, Mode::Required) => {
                    return Err(Denial::InvalidCredentials(
                        "the token is not bound to a client certificate",
                    ))
                }
                (None, Mode::Allowed) => {}
            }
        }
        Ok(proof)
    }
}

/// What the protected resource metadata (RFC 9728 §2) says of these providers' bindings:
/// `dpop_signing_alg_values_supported`, `dpop_bound_access_tokens_required` (when every token
/// provider requires DPoP), `dpop_nonce_required` (an extension: when one asks for nonces) and
/// `tls_client_certificate_bound_access_tokens`.
pub fn metadata(bindings: &[&Binding]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    let mut algs: Vec<&str> = Vec::new();
    for (_, d) in bindings.iter().filter_map(|b| b.dpop.as_ref()) {
        for a in &d.algs {
            if !algs.contains(&a.name()) {
                algs.push(a.name());
            }
        }
    }
    if !algs.is_empty() {
        out.insert("dpop_signing_alg_values_supported".into(), algs.into());
    }
    // An extension (RFC 9728 has no member for it): proofs must carry the server's nonce.
    if bindings
        .iter()
        .any(|b| b.dpop.as_ref().is_some_and(|(_, d)| d.nonces.is_some()))
    {
        out.insert("dpop_nonce_required".into(), true.into());
    }
    if !bindings.is_empty() && !bindings.iter().any(|b| b.takes_bearer()) {
        out.insert("dpop_bound_access_tokens_required".into(), true.into());
    }
    if bindings.iter().any(|b| b.mtls.is_some()) {
        out.insert(
            "tls_client_certificate_bound_access_tokens".into(),
            true.into(),
        );
    }
    out
}

#[cfg(test)]
mod tests;
