//! The `introspection` provider's configuration section exactly as users write it: where the
//! token service is and how authgate authenticates to it (RFC 7662 §2.1), how long answers are
//! kept, and the `jwt` provider's fields for where tokens are and what their claims must say.

use crate::providers::jwt::{RawClaimToHeader, RawJwtHeader};
use crate::schema::decode::raw_struct;

raw_struct! {
    /// `type: introspection`. Its `Debug` leaves the secret out.
    pub struct RawIntrospection {
        /// The introspection endpoint; its host is the call's `:authority`, its path the `:path`.
        pub endpoint: Option<String>,
        /// Find the endpoint in the issuer's metadata instead (`introspection_endpoint`).
        pub discovery: Option<RawIntrospectionDiscovery>,
        /// The Envoy cluster that reaches it.
        pub cluster: String,
        /// The client id authgate authenticates with.
        pub client_id: String,
        /// The client secret, in the configuration (tests and demos).
        pub client_secret: Option<String>,
        /// The name of the Wasm VM environment variable that holds the client secret.
        pub client_secret_env: Option<String>,
        /// `client_secret_basic` (default) or `client_secret_post` (RFC 6749 §2.3.1).
        pub auth_method: Option<String>,
        /// How long a call may take, and a request wait for it (default 1000).
        pub timeout_ms: Option<u64>,
        /// Longest an active answer is kept (default 300; never beyond the token's `exp`).
        pub cache_max_seconds: Option<u64>,
        /// How long an inactive answer is kept (default 10).
        pub negative_cache_seconds: Option<u64>,
        /// The answer's `iss` must equal this.
        pub issuer: Option<String>,
        /// One of the answer's `aud` values must be one of these.
        pub audiences: Option<Vec<String>>,
        /// Headers the token is read from.
        pub from_headers: Option<Vec<RawJwtHeader>>,
        /// Query parameters the token is read from.
        pub from_params: Option<Vec<String>>,
        /// Cookies the token is read from.
        pub from_cookies: Option<Vec<String>>,
        /// Leeway for `exp` and `nbf` (default 60).
        pub clock_skew_seconds: Option<u64>,
        /// Keep the token on the request upstream (default false).
        pub forward: Option<bool>,
        /// Members of the answer copied into headers upstream.
        pub claim_to_headers: Option<Vec<RawClaimToHeader>>,
        /// DPoP (RFC 9449): `required` or `allowed`.
        pub dpop: Option<String>,
        /// The DPoP proof algorithms accepted (default ES256, EdDSA, RS256, PS256).
        pub dpop_algs: Option<Vec<String>>,
        /// How old a DPoP proof may be (default 60).
        pub dpop_max_age_seconds: Option<u64>,
        /// DPoP server nonces (RFC 9449 §9), derived from a secret every replica shares.
        pub dpop_nonce: Option<crate::binding::nonce::RawDpopNonce>,
        /// Certificate-bound tokens (RFC 8705): `required` or `allowed`.
        pub mtls_bound: Option<String>,
        /// Where the client certificate is read: `connection` (default) or `xfcc`.
        pub client_cert_from: Option<String>,
        /// The scheme a DPoP proof's `htu` must name: the downstream connection's
        /// (`connection`, the default: `https` over TLS) or the request's `:scheme`
        /// (`request`, for a TLS proxy in front that Envoy trusts with `x-forwarded-proto`).
        pub dpop_scheme_from: Option<String>,
    }
}

raw_struct! {
    /// `discovery` of an `introspection` provider.
    #[derive(Debug)]
    pub struct RawIntrospectionDiscovery {
        /// The Envoy cluster that reaches the issuer (default: the provider's `cluster`).
        pub cluster: Option<String>,
        /// How long a metadata call may take (default 1000).
        pub timeout_ms: Option<u64>,
        /// How long the metadata is used before it is read again (default 600).
        pub cache_duration_seconds: Option<u64>,
    }
}

impl std::fmt::Debug for RawIntrospection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawIntrospection")
            .field("endpoint", &self.endpoint)
            .field("cluster", &self.cluster)
            .field("client_id", &self.client_id)
            .field("client_secret_env", &self.client_secret_env)
            .finish_non_exhaustive()
    }
}

impl RawIntrospection {
    /// The sender-constraint fields.
    pub fn binding(&self) -> crate::binding::RawBinding<'_> {
        crate::binding::RawBinding {
            dpop: self.dpop.as_deref(),
            dpop_algs: self.dpop_algs.as_deref(),
            dpop_max_age_seconds: self.dpop_max_age_seconds,
            dpop_nonce: self.dpop_nonce.as_ref(),
            mtls_bound: self.mtls_bound.as_deref(),
            client_cert_from: self.client_cert_from.as_deref(),
            dpop_scheme_from: self.dpop_scheme_from.as_deref(),
        }
    }
}
