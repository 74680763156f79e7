//! The `oidc` provider's configuration section exactly as users write it (OpenID Connect
//! sign-in for browsers: authorization code flow with PKCE, sessions in sealed cookies).

use crate::providers::jwt::{RawClaimToHeader, RawDiscovery};
use crate::schema::decode::raw_struct;

raw_struct! {
    /// `type: oidc`. Its `Debug` leaves the client secret out.
    pub struct RawOidc {
        /// The OpenID Provider's issuer identifier (`iss` of its ID tokens, and where its
        /// metadata is: `<issuer>/.well-known/openid-configuration`).
        pub issuer: String,
        /// How to reach the issuer's metadata (the `jwt` provider's `discovery`).
        pub discovery: RawDiscovery,
        /// This relying party's client identifier at the issuer.
        pub client_id: String,
        /// The client secret, in the configuration.
        pub client_secret: Option<String>,
        /// The VM environment variable that holds the client secret instead.
        pub client_secret_env: Option<String>,
        /// `client_secret_basic` (default with a secret), `client_secret_post` or `none` (a
        /// public client, PKCE only).
        pub auth_method: Option<String>,
        /// Scopes asked for; default `["openid"]` (`openid` is added when missing).
        pub scopes: Option<Vec<String>>,
        /// The callback path on this site; default `/oauth2/callback`.
        pub redirect_path: Option<String>,
        /// The path that signs out; default `/oauth2/logout`.
        pub logout_path: Option<String>,
        /// The path that starts a sign-in and comes back to its `rd` (a path on this site);
        /// default `/oauth2/login`. It is the `login` address of 401 bodies, for scripts and
        /// links (an extension of the contract).
        pub login_path: Option<String>,
        /// Where the browser goes after signing out, when the issuer has no end-session
        /// endpoint (and the `post_logout_redirect_uri` it is given when it has one).
        pub post_logout_redirect_uri: Option<String>,
        /// The session cookie.
        pub cookie: Option<RawCookie>,
        /// The VM environment variable with the cookie keys: base64 secrets of at least 32
        /// bytes, separated by spaces or commas; the first seals, all open.
        pub cookie_secrets_env: String,
        /// Claims of the session copied into request headers for upstream.
        pub claim_to_headers: Option<Vec<RawClaimToHeader>>,
        /// Send the session's access token upstream as `Authorization: Bearer`.
        pub forward_access_token: Option<bool>,
        /// Leeway for `exp`, `iat` and `nbf` of the ID token; default 60.
        pub clock_skew_seconds: Option<u64>,
    }
}

raw_struct! {
    /// `cookie`: the session cookie's name and attributes.
    #[derive(Debug)]
    pub struct RawCookie {
        /// Default `__Host-authgate`.
        pub name: Option<String>,
        /// How long a session lasts, in seconds; default 28800 (8 hours).
        pub max_age_seconds: Option<u64>,
        /// `Lax` (default) or `Strict`.
        pub same_site: Option<String>,
    }
}

impl std::fmt::Debug for RawOidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawOidc")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret_env", &self.client_secret_env)
            .finish_non_exhaustive()
    }
}
