//! The configuration exactly as users write it: serde structs that refuse unknown fields.
//! Nothing here is checked beyond its JSON shape; [`super::compile`] does the rest.

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
    /// Named credential checkers.
    pub providers: BTreeMap<String, RawProvider>,
    /// Ordered rules; the first whose `match` fits decides. Absent: every request requires any
    /// one provider.
    #[serde(default)]
    pub rules: Option<Vec<RawRule>>,
    /// Let CORS preflight requests through without credentials (default true).
    #[serde(default)]
    pub allow_cors_preflight: Option<bool>,
}

/// One provider, tagged by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RawProvider {
    /// HTTP Basic (RFC 7617) against htpasswd lines.
    Basic(RawBasic),
    /// API keys from a header, query parameter or cookie.
    ApiKey(RawApiKey),
    /// JWT bearer tokens; accepted by the parser so that the error names the real problem.
    Jwt(BTreeMap<String, Value>),
}

/// `type: basic`.
#[derive(Debug, Deserialize)]
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

/// One accepted API key: exactly one of `key`, `key_sha256`.
#[derive(Debug, Deserialize)]
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
