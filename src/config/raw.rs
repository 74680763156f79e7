//! The configuration exactly as users write it: serde structs that refuse unknown fields.
//! Nothing here is checked beyond its JSON shape; [`super::compile`] does the rest.

use crate::error::ConfigError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The plugin configuration document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `realm` of every challenge; defaults to `authgate`.
    #[serde(default)]
    pub realm: Option<String>,
    /// Named credential checkers, each read by [`RawProvider::parse`] so that an error deep
    /// inside one is named by its full path (serde loses the path inside tagged enums).
    pub providers: BTreeMap<String, Value>,
    /// Ordered rules; the first whose `match` fits decides. Absent: every request requires any
    /// one provider.
    #[serde(default)]
    pub rules: Option<Vec<RawRule>>,
    /// Let CORS preflight requests through without credentials (default true).
    #[serde(default)]
    pub allow_cors_preflight: Option<bool>,
    /// `enforce` (default) or `report`: let everything through, count and log what would
    /// have been refused.
    #[serde(default)]
    pub mode: Option<String>,
    /// In report mode, the header that tells upstream what would have been refused
    /// (default `x-authgate-would-deny`).
    #[serde(default)]
    pub report_header: Option<String>,
    /// Log successes with the identity too (default false).
    #[serde(default)]
    pub log_allowed: Option<bool>,
    /// Level of audit lines: `debug`, `info` (default), `warn` or `error`.
    #[serde(default)]
    pub audit_level: Option<String>,
    /// Most audit lines per second per worker (default 100, 0 = no limit); the rest are
    /// counted and summarised.
    #[serde(default)]
    pub audit_lines_per_second: Option<u32>,
    /// How replies read.
    #[serde(default)]
    pub response: Option<RawResponse>,
    /// Brute-force throttling per client address.
    #[serde(default)]
    pub throttle: Option<RawThrottle>,
}

/// `throttle`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThrottle {
    /// Refused credentials allowed per window.
    pub max_failures: u32,
    /// The window, in seconds.
    pub window_seconds: u64,
}

/// `response`: how replies read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResponse {
    /// Used as the problem `type` and linked from replies.
    #[serde(default)]
    pub docs_url: Option<String>,
    /// Per-reason `detail` text, keyed by error code.
    #[serde(default)]
    pub detail: Option<BTreeMap<String, String>>,
    /// Static members added to every problem body.
    #[serde(default)]
    pub extra: Option<serde_json::Map<String, Value>>,
}

/// One provider, tagged by `type`.
#[derive(Debug)]
pub enum RawProvider {
    /// HTTP Basic (RFC 7617) against htpasswd lines.
    Basic(RawBasic),
    /// API keys from a header, query parameter or cookie.
    ApiKey(RawApiKey),
    /// JWTs (field names follow Envoy's jwt_authn `JwtProvider`).
    Jwt(Box<RawJwt>),
}

impl RawProvider {
    /// Reads provider `name` from its JSON object; errors name the full path
    /// (`providers.<name>.<field>`).
    pub fn parse(name: &str, value: &Value) -> Result<Self, ConfigError> {
        let at = format!("providers.{name}");
        let Value::Object(fields) = value else {
            return Err(ConfigError::new(at, "must be an object with a `type`"));
        };
        let mut fields = fields.clone();
        let kind = match fields.remove("type") {
            Some(Value::String(kind)) => kind,
            Some(_) => return Err(ConfigError::new(format!("{at}.type"), "must be a string")),
            None => return Err(ConfigError::new(at, "missing field `type`")),
        };
        let fields = Value::Object(fields);
        Ok(match kind.as_str() {
            "basic" => RawProvider::Basic(section(&at, fields)?),
            "api_key" => RawProvider::ApiKey(section(&at, fields)?),
            "jwt" => RawProvider::Jwt(Box::new(section(&at, fields)?)),
            other => {
                return Err(ConfigError::new(
                    format!("{at}.type"),
                    format!(
                    "unknown provider type `{other}`, expected one of `basic`, `api_key`, `jwt`"
                ),
                ))
            }
        })
    }
}

/// Deserializes the section at JSON path `at`; an error names `at` followed by the path
/// inside the section.
pub fn section<T: DeserializeOwned>(at: &str, value: Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let field = match inner.as_str() {
            "." | "?" | "" => at.to_string(),
            _ => format!("{at}.{inner}"),
        };
        ConfigError::new(field, e.inner().to_string())
    })
}

/// `type: basic`. Its `Debug` leaves the htpasswd text out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasic {
    /// `user:hash` lines, bcrypt or `{SHA}`.
    pub htpasswd: String,
    /// Header that receives the authenticated user name upstream.
    #[serde(default)]
    pub forward_username_header: Option<String>,
    /// Remove the `Authorization` header before the request goes upstream (default false).
    #[serde(default)]
    pub hide_credentials: Option<bool>,
}

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

impl std::fmt::Debug for RawJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawJwt")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("remote_jwks", &self.remote_jwks)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RawBasic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBasic")
            .field("forward_username_header", &self.forward_username_header)
            .field("hide_credentials", &self.hide_credentials)
            .finish_non_exhaustive()
    }
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

/// One rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Which requests the rule applies to.
    #[serde(rename = "match")]
    pub matcher: RawMatch,
    /// A provider name, `"none"`, `{"any": [...]}` or `{"all": [...]}`; interpreted by
    /// [`super::compile`] so that its errors can be precise.
    pub requires: Value,
    /// Scopes a JWT must carry.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// `match`: exactly one of `prefix`, `path`; optionally `methods`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    /// Path prefix (string prefix of the path without its query, as Envoy's route `prefix`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Exact path, without the query.
    #[serde(default)]
    pub path: Option<String>,
    /// HTTP methods; absent means all.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
}

/// `type: jwt`. Its `Debug` leaves `local_jwks` out (it may hold HMAC secrets).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwt {
    /// `iss` must equal this.
    #[serde(default)]
    pub issuer: Option<String>,
    /// One of the token's `aud` values must be one of these.
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
    /// A JWKS object, or a string holding one.
    #[serde(default)]
    pub local_jwks: Option<Value>,
    /// A JWKS fetched through an Envoy cluster.
    #[serde(default)]
    pub remote_jwks: Option<RawRemoteJwks>,
    /// Headers the token is read from.
    #[serde(default)]
    pub from_headers: Option<Vec<RawJwtHeader>>,
    /// Query parameters the token is read from.
    #[serde(default)]
    pub from_params: Option<Vec<String>>,
    /// Cookies the token is read from.
    #[serde(default)]
    pub from_cookies: Option<Vec<String>>,
    /// Leeway for `exp` and `nbf` (default 60).
    #[serde(default)]
    pub clock_skew_seconds: Option<u64>,
    /// `exp` must be present and at most this far ahead.
    #[serde(default)]
    pub max_lifetime_seconds: Option<u64>,
    /// `exp` must be present (Envoy's `require_expiration`).
    #[serde(default)]
    pub require_expiration: Option<bool>,
    /// Keep the token on the request upstream (default false).
    #[serde(default)]
    pub forward: Option<bool>,
    /// Header that receives the base64url payload upstream.
    #[serde(default)]
    pub forward_payload_header: Option<String>,
    /// Claims copied into headers upstream.
    #[serde(default)]
    pub claim_to_headers: Option<Vec<RawClaimToHeader>>,
}

/// `remote_jwks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemoteJwks {
    /// Where the JWKS is; its host is the call's `:authority`, its path the `:path`.
    pub uri: String,
    /// The Envoy cluster that reaches it.
    pub cluster: String,
    /// Fetch timeout, and the longest a request waits for the first key set (default 1000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Refetch period (default 600).
    #[serde(default)]
    pub cache_duration_seconds: Option<u64>,
    /// Minimum time between refetches caused by unknown `kid`s (default 30).
    #[serde(default)]
    pub min_refetch_interval_seconds: Option<u64>,
}

/// One entry of `from_headers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwtHeader {
    /// Header name.
    pub name: String,
    /// Text before the token, e.g. `Bearer `.
    #[serde(default)]
    pub value_prefix: Option<String>,
}

/// One entry of `claim_to_headers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClaimToHeader {
    /// The claim (`a.b` for nested claims).
    pub claim_name: String,
    /// The header it is copied into.
    pub header_name: String,
}
