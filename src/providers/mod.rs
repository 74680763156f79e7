//! Credential providers: where each kind of credential is found in a request and how it is
//! checked. Each provider is a plain value compiled from the configuration.

pub mod api_key;
pub mod basic;
pub mod htpasswd;
pub mod jwt;
pub mod locate;

/// What a successful check asks of the request before it goes upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Headers to set (identity for upstream).
    pub set: Vec<(String, String)>,
    /// Headers to remove (credentials hidden from upstream).
    pub remove: Vec<String>,
    /// Who was authenticated (user name, API client, token subject), for the audit log.
    pub identity: Option<String>,
}

/// Where a provider's credential stands in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Not sent.
    Absent,
    /// Sent once: the value, and the index of the key source it came from.
    One(String, usize),
    /// Sent more than once or by more than one method (RFC 6750 §2 forbids it for tokens;
    /// the same rule keeps API keys unambiguous).
    Conflict,
}
