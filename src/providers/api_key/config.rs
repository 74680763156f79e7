//! The `api_key` provider's configuration section exactly as users write it.

use crate::schema::decode::raw_struct;

raw_struct! {
    /// `type: api_key`.
    #[derive(Debug)]
    pub struct RawApiKey {
        /// The accepted keys and the client each one names.
        pub credentials: Vec<RawApiKeyCredential>,
        /// Where the key is read from; default `[{"header": "x-api-key"}]`.
        pub key_sources: Option<Vec<RawKeySource>>,
        /// Header that receives the client name upstream.
        pub forward_client_header: Option<String>,
        /// Remove the key from the request before it goes upstream (default false).
        pub hide_credentials: Option<bool>,
    }
}

raw_struct! {
    /// One accepted API key: exactly one of `key`, `key_sha256`. Its `Debug` leaves both out.
    pub struct RawApiKeyCredential {
        /// The client this key belongs to, forwarded in `forward_client_header`.
        pub client: String,
        /// The key itself (hashed at load time, the text is not kept).
        pub key: Option<String>,
        /// Lower- or upper-case hex SHA-256 of the key.
        pub key_sha256: Option<String>,
    }
}

impl std::fmt::Debug for RawApiKeyCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawApiKeyCredential")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

raw_struct! {
    /// One place an API key may be: exactly one of `header`, `query`, `cookie`.
    #[derive(Debug)]
    pub struct RawKeySource {
        /// A request header name.
        pub header: Option<String>,
        /// A query parameter name.
        pub query: Option<String>,
        /// A cookie name.
        pub cookie: Option<String>,
    }
}
