//! The `api_key` provider's configuration section exactly as users write it.

use serde::Deserialize;

/// `type: api_key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiKey {
    /// The accepted keys and the client each one names.
    pub credentials: Vec<RawApiKeyCredential>,
    /// Where the key is read from; default `[{"header": "x-api-key"}]`.
    #[serde(default)]
    pub key_sources: Option<Vec<RawKeySource>>,
    /// Header that receives the client name upstream.
    #[serde(default)]
    pub forward_client_header: Option<String>,
    /// Remove the key from the request before it goes upstream (default false).
    #[serde(default)]
    pub hide_credentials: Option<bool>,
}

/// One accepted API key: exactly one of `key`, `key_sha256`. Its `Debug` leaves both out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiKeyCredential {
    /// The client this key belongs to, forwarded in `forward_client_header`.
    pub client: String,
    /// The key itself (hashed at load time, the text is not kept).
    #[serde(default)]
    pub key: Option<String>,
    /// Lower- or upper-case hex SHA-256 of the key.
    #[serde(default)]
    pub key_sha256: Option<String>,
}

impl std::fmt::Debug for RawApiKeyCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawApiKeyCredential")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// One place an API key may be: exactly one of `header`, `query`, `cookie`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeySource {
    /// A request header name.
    #[serde(default)]
    pub header: Option<String>,
    /// A query parameter name.
    #[serde(default)]
    pub query: Option<String>,
    /// A cookie name.
    #[serde(default)]
    pub cookie: Option<String>,
}
