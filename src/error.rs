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
    /// Too many refused credentials from this client lately; holds the seconds to wait.
    TooManyFailures(u64),
}

impl Denial {
    /// The `error` code of the problem body, fixed by the contract.
    pub fn code(&self) -> &'static str {
        match self {
            Denial::MissingCredentials => "missing_credentials",
            Denial::InvalidCredentials(_) => "invalid_credentials",
            Denial::TokenExpired => "token_expired",
            Denial::UnsupportedScheme => "unsupported_scheme",
            Denial::InsufficientScope(_) => "insufficient_scope",
            Denial::InvalidRequest(_) => "invalid_request",
            Denial::TooManyFailures(_) => "too_many_failures",
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::MissingCredentials => f.write_str("no credentials were sent"),
            Denial::InvalidCredentials(why) => write!(f, "invalid credentials: {why}"),
            Denial::TokenExpired => f.write_str("the token has expired"),
            Denial::UnsupportedScheme => f.write_str("authorization scheme not accepted here"),
            Denial::InsufficientScope(s) => write!(f, "insufficient scope, requires {s}"),
            Denial::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            Denial::TooManyFailures(s) => write!(f, "too many failed attempts, retry in {s} s"),
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
