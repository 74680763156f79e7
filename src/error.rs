//! The two error types: why a request is refused ([`Denial`]) and why a configuration is
//! refused ([`ConfigError`]). How a denial reads on the wire is decided in one place,
//! [`crate::reply`].

use std::fmt;

/// Why a request was refused. Every variant maps to exactly one row of the contract's reply
/// table; see [`crate::reply`] for the status, challenge and body each one gets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denial {
    /// No credential that the matched rule accepts was sent (RFC 6750 §3.1: no `error`).
    MissingCredentials,
    /// `Authorization` names a scheme the rule accepts (`Bearer`, `Basic`) and holds nothing
    /// after it — typically a script's empty variable. Its code is `missing_credentials`.
    EmptyCredentials(&'static str),
    /// A credential was sent and is wrong, malformed or unknown. The reason is a fixed phrase,
    /// never derived from the credential, so it is safe to show and log.
    InvalidCredentials(&'static str),
    /// A token was valid once but has expired.
    TokenExpired,
    /// `Authorization` carries a scheme that the matched rule does not accept.
    UnsupportedScheme,
    /// Authenticated, but a required scope is missing; holds the rule's required scopes.
    InsufficientScope(String),
    /// The request is malformed as an authentication request: a credential sent twice or by
    /// more than one method (RFC 6750 §2), or two `Authorization` headers.
    InvalidRequest(&'static str),
    /// The request's authority (`:authority` / `Host`) is not exactly one valid `host[:port]`
    /// (RFC 9112 §3.2: two `Host` lines, which Envoy joins with a comma, or an invalid value).
    /// Its code is `invalid_request`; it is refused before any rule decides.
    BadAuthority,
    /// Too many refused credentials from this client lately; holds the seconds to wait.
    TooManyFailures(u64),
    /// Authenticated, but a rule's `claims` or `identities` condition fails; holds the
    /// condition in words (configured values only, never the credential's).
    AccessDenied(String),
    /// A service the check depends on (the introspection endpoint) could not answer: down,
    /// too slow, or an answer that is not one. Says nothing about the credential; holds the
    /// seconds after which to retry.
    TemporarilyUnavailable(u64),
    /// The credential passed, but the token exchange the upstream needs (RFC 8693) got no
    /// usable answer from the authorization server. Its code is `temporarily_unavailable`;
    /// holds the seconds after which to retry.
    ExchangeUnavailable(u64),
    /// A DPoP proof (RFC 9449) is missing, malformed, replayed or does not match the request
    /// or the token. The reason is a fixed phrase.
    InvalidDpopProof(&'static str),
    /// The resource server asks for a DPoP nonce (RFC 9449 §9): the proof had none, or not a
    /// current one. Holds the fresh nonce the answer gives (`DPoP-Nonce`).
    UseDpopNonce(String),
}

impl Denial {
    /// Every `error` code, fixed by the contract: the one list that replies (`response.detail`
    /// keys) and metrics (a counter per code) are built from.
    pub const CODES: [&'static str; 11] = [
        "missing_credentials",
        "invalid_credentials",
        "token_expired",
        "unsupported_scheme",
        "insufficient_scope",
        "invalid_request",
        "too_many_failures",
        "access_denied",
        "temporarily_unavailable",
        "invalid_dpop_proof",
        "use_dpop_nonce",
    ];

    /// This denial's place in [`Denial::CODES`]; the match makes a new variant name its code.
    pub fn code_index(&self) -> usize {
        match self {
            Denial::MissingCredentials | Denial::EmptyCredentials(_) => 0,
            Denial::InvalidCredentials(_) => 1,
            Denial::TokenExpired => 2,
            Denial::UnsupportedScheme => 3,
            Denial::InsufficientScope(_) => 4,
            Denial::InvalidRequest(_) | Denial::BadAuthority => 5,
            Denial::TooManyFailures(_) => 6,
            Denial::AccessDenied(_) => 7,
            Denial::TemporarilyUnavailable(_) | Denial::ExchangeUnavailable(_) => 8,
            Denial::InvalidDpopProof(_) => 9,
            Denial::UseDpopNonce(_) => 10,
        }
    }

    /// The `error` code of the problem body.
    pub fn code(&self) -> &'static str {
        Denial::CODES
            .get(self.code_index())
            .copied()
            .unwrap_or("invalid_credentials")
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::MissingCredentials => f.write_str("no credentials were sent"),
            Denial::EmptyCredentials(scheme) => {
                write!(
                    f,
                    "the Authorization header names {scheme} but holds no credential"
                )
            }
            Denial::InvalidCredentials(why) => write!(f, "invalid credentials: {why}"),
            Denial::TokenExpired => f.write_str("the token has expired"),
            Denial::UnsupportedScheme => f.write_str("authorization scheme not accepted here"),
            Denial::InsufficientScope(s) => write!(f, "insufficient scope, requires {s}"),
            Denial::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            Denial::BadAuthority => {
                f.write_str("invalid request: the authority is not one host[:port]")
            }
            Denial::TooManyFailures(s) => write!(f, "too many failed attempts, retry in {s} s"),
            Denial::AccessDenied(why) => write!(f, "access denied: {why}"),
            Denial::TemporarilyUnavailable(s) => {
                write!(f, "the token service could not answer, retry in {s} s")
            }
            Denial::ExchangeUnavailable(s) => write!(
                f,
                "no token for the upstream: the authorization server could not answer, retry in {s} s"
            ),
            Denial::InvalidDpopProof(why) => write!(f, "invalid DPoP proof: {why}"),
            Denial::UseDpopNonce(_) => f.write_str("the DPoP proof has no current server nonce"),
        }
    }
}

/// Why a configuration was refused: the JSON path of the offending field and the reason.
/// Rendered as one log line; never contains a secret from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where in the configuration, e.g. `providers.staff.htpasswd` (line 2).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// A refusal of `field` for `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "authgate: invalid configuration: {}", self.reason)
        } else {
            write!(
                f,
                "authgate: invalid configuration: {}: {}",
                self.field, self.reason
            )
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_denial_has_its_own_code() {
        assert_eq!(
            Denial::EmptyCredentials("Bearer").code(),
            "missing_credentials"
        );
        assert_eq!(Denial::BadAuthority.code(), "invalid_request");
        assert_eq!(
            Denial::ExchangeUnavailable(1).code(),
            "temporarily_unavailable"
        );
        let all = [
            Denial::MissingCredentials,
            Denial::InvalidCredentials("x"),
            Denial::TokenExpired,
            Denial::UnsupportedScheme,
            Denial::InsufficientScope("s".into()),
            Denial::InvalidRequest("x"),
            Denial::TooManyFailures(1),
            Denial::AccessDenied("x".into()),
            Denial::TemporarilyUnavailable(1),
            Denial::InvalidDpopProof("x"),
            Denial::UseDpopNonce("n".into()),
        ];
        let codes: Vec<&str> = all.iter().map(Denial::code).collect();
        assert_eq!(
            codes,
            Denial::CODES,
            "one code per variant, in the list's order"
        );
    }
}
