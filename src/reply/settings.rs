//! `response`: how replies read — a documentation link used as the problem `type`, per-reason
//! `detail` text, and static members added to every problem body. Checked and rendered once
//! at configure time.

use crate::error::ConfigError;
use crate::json;
use crate::schema::decode::raw_struct;
use crate::schema::fields;
use serde_json::Value;
use std::collections::BTreeMap;

raw_struct! {
    /// `response`: how replies read.
    #[derive(Debug)]
    pub struct RawResponse {
        /// Used as the problem `type` and linked from replies.
        pub docs_url: Option<String>,
        /// Per-reason `detail` text, keyed by error code.
        pub detail: Option<BTreeMap<String, String>>,
        /// Static members added to every problem body.
        pub extra: Option<serde_json::Map<String, Value>>,
    }
}

/// The error codes `response.detail` may name.
pub const CODES: [&str; 11] = crate::error::Denial::CODES;

/// Problem members authgate writes itself; `extra` cannot replace them.
const RESERVED: [&str; 9] = [
    "type",
    "title",
    "status",
    "detail",
    "error",
    "request_id",
    "accepted",
    "required_scopes",
    "resource_metadata",
];

/// Compiled `response` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseSettings {
    /// The problem `type` (default `about:blank`) and the link in HTML pages.
    pub docs_url: Option<String>,
    /// Per-code `detail` overrides.
    pub detail: BTreeMap<String, String>,
    /// `,"k":v` for each extra member, ready to splice into a body.
    pub extra_json: String,
}

impl ResponseSettings {
    /// Validates `response`.
    pub fn compile(raw: Option<&RawResponse>) -> Result<Self, ConfigError> {
        let Some(raw) = raw else {
            return Ok(ResponseSettings::default());
        };
        let docs_url = match &raw.docs_url {
            Some(u)
                if (u.starts_with("https://") || u.starts_with("http://"))
                    && u.len() > 8
                    && fields::is_plain_value(u)
                    && !u.contains([' ', '<', '>']) =>
            {
                Some(u.clone())
            }
            Some(_) => {
                return Err(ConfigError::new(
                    "response.docs_url",
                    "must be an http(s) URL without spaces, quotes or angle brackets",
                ))
            }
            None => None,
        };
        let mut detail = BTreeMap::new();
        for (code, text) in raw.detail.iter().flatten() {
            if !CODES.contains(&code.as_str()) {
                return Err(ConfigError::new(
                    format!("response.detail.{code}"),
                    format!("is not an error code; use one of {}", CODES.join(", ")),
                ));
            }
            if text.is_empty() || text.chars().any(char::is_control) {
                return Err(ConfigError::new(
                    format!("response.detail.{code}"),
                    "must be non-empty text without control characters",
                ));
            }
            detail.insert(code.clone(), text.clone());
        }
        let mut extra_json = String::new();
        for (k, v) in raw.extra.iter().flatten() {
            if RESERVED.contains(&k.as_str()) {
                return Err(ConfigError::new(
                    format!("response.extra.{k}"),
                    "is a member authgate writes itself",
                ));
            }
            extra_json.push(',');
            json::push_str(&mut extra_json, k);
            extra_json.push(':');
            extra_json.push_str(&v.to_string());
        }
        Ok(ResponseSettings {
            docs_url,
            detail,
            extra_json,
        })
    }
}
