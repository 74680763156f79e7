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
    /// Named credential checkers, each read by its provider type through
    /// [`crate::providers::registry`], so that an error deep inside one is named by its full
    /// path.
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
    /// OAuth 2.0 Protected Resource Metadata (RFC 9728).
    #[serde(default)]
    pub resource: Option<RawResource>,
}

/// `resource` (RFC 9728 §2).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResource {
    /// The resource identifier: an absolute https URL without query or fragment.
    pub id: String,
    /// Issuer URLs of the authorization servers that issue tokens for it.
    pub authorization_servers: Vec<String>,
    /// Scopes the resource advertises.
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// A name for people.
    #[serde(default)]
    pub resource_name: Option<String>,
    /// A documentation URL for people.
    #[serde(default)]
    pub resource_documentation: Option<String>,
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
    /// Conditions on the authenticated credential's claims (`claim` + `equals`/`contains`/`in`).
    #[serde(default)]
    pub claims: Option<Vec<Value>>,
    /// The Basic users, API key clients or token subjects allowed.
    #[serde(default)]
    pub identities: Option<Vec<String>>,
}

/// `match`: exactly one of `prefix`, `path`; optionally `methods`, `hosts`, `headers`.
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
    /// Host names (`:authority` without its port), as Envoy's virtual host `domains`.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// Header conditions, as Envoy's `HeaderMatcher`.
    #[serde(default)]
    pub headers: Option<Vec<RawHeaderMatch>>,
}

/// One entry of `match.headers`: a name and exactly one of `exact`, `prefix`, `present`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderMatch {
    /// The header name.
    pub name: String,
    /// The value equals this.
    #[serde(default)]
    pub exact: Option<String>,
    /// The value starts with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The header is present (`true`) or absent (`false`).
    #[serde(default)]
    pub present: Option<bool>,
    /// Invert the result.
    #[serde(default)]
    pub invert: Option<bool>,
}
