//! The `jwt` provider's configuration section exactly as users write it (field names follow
//! Envoy's jwt_authn `JwtProvider`).

use crate::schema::decode::raw_struct;
use serde_json::Value;

raw_struct! {
    /// `type: jwt`. Its `Debug` leaves `local_jwks` out (it may hold HMAC secrets).
    pub struct RawJwt {
        /// `iss` must equal this.
        pub issuer: Option<String>,
        /// One of the token's `aud` values must be one of these.
        pub audiences: Option<Vec<String>>,
        /// A JWKS object, or a string holding one.
        pub local_jwks: Option<Value>,
        /// A JWKS fetched through an Envoy cluster.
        pub remote_jwks: Option<RawRemoteJwks>,
        /// The JWKS found from `issuer` (OpenID Connect Discovery, then RFC 8414).
        pub discovery: Option<RawDiscovery>,
        /// Headers the token is read from.
        pub from_headers: Option<Vec<RawJwtHeader>>,
        /// Query parameters the token is read from.
        pub from_params: Option<Vec<String>>,
        /// Cookies the token is read from.
        pub from_cookies: Option<Vec<String>>,
        /// Leeway for `exp` and `nbf` (default 60).
        pub clock_skew_seconds: Option<u64>,
        /// `exp` must be present and at most this far ahead.
        pub max_lifetime_seconds: Option<u64>,
        /// `exp` must be present (Envoy's `require_expiration`).
        pub require_expiration: Option<bool>,
        /// Keep the token on the request upstream (default false).
        pub forward: Option<bool>,
        /// Header that receives the base64url payload upstream.
        pub forward_payload_header: Option<String>,
        /// Claims copied into headers upstream.
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
    /// `remote_jwks`.
    #[derive(Debug)]
    pub struct RawRemoteJwks {
        /// Where the JWKS is; its host is the call's `:authority`, its path the `:path`.
        pub uri: String,
        /// The Envoy cluster that reaches it.
        pub cluster: String,
        /// Fetch timeout, and the longest a request waits for the first key set (default 1000).
        pub timeout_ms: Option<u64>,
        /// Refetch period (default 600).
        pub cache_duration_seconds: Option<u64>,
        /// Minimum time between refetches caused by unknown `kid`s (default 30).
        pub min_refetch_interval_seconds: Option<u64>,
    }
}

raw_struct! {
    /// `discovery`.
    #[derive(Debug, Clone)]
    pub struct RawDiscovery {
        /// The Envoy cluster that reaches the issuer.
        pub cluster: String,
        /// The Envoy cluster that reaches `jwks_uri` (default: `cluster`).
        pub jwks_cluster: Option<String>,
        /// Fetch timeout, and the longest a request waits for the first key set (default 1000).
        pub timeout_ms: Option<u64>,
        /// How long the metadata and the key set are used before they are read again (default 600).
        pub cache_duration_seconds: Option<u64>,
    }
}

raw_struct! {
    /// One entry of `from_headers`.
    #[derive(Debug)]
    pub struct RawJwtHeader {
        /// Header name.
        pub name: String,
        /// Text before the token, e.g. `Bearer `.
        pub value_prefix: Option<String>,
    }
}

raw_struct! {
    /// One entry of `claim_to_headers`.
    #[derive(Debug)]
    pub struct RawClaimToHeader {
        /// The claim (`a.b` for nested claims).
        pub claim_name: String,
        /// The header it is copied into.
        pub header_name: String,
    }
}

impl std::fmt::Debug for RawJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawJwt")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("remote_jwks", &self.remote_jwks)
            .field("discovery", &self.discovery)
            .finish_non_exhaustive()
    }
}

impl RawJwt {
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
