//! The token endpoint's answer to a token exchange (RFC 8693 §2.2): the issued token and how
//! long it may be kept, a refusal the caller is told of (403 `access_denied`), or no usable
//! answer — the server's failure, never the caller's (503 `temporarily_unavailable`).

use serde_json::{Map, Value};

/// The longest answer read.
pub const MAX_ANSWER: usize = 64 * 1024;
/// The longest issued token forwarded (it goes upstream in `Authorization`).
pub const MAX_TOKEN: usize = 16 * 1024;
/// The longest `error` or `error_description` kept for a refusal's detail.
const MAX_ERROR: usize = 200;

/// A token the authorization server issued (RFC 8693 §2.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// `access_token`: what the upstream receives as `Authorization: Bearer <token>`.
    pub token: String,
    /// `issued_token_type`.
    pub issued_token_type: String,
    /// `expires_in`, when the server said (RECOMMENDED, not REQUIRED).
    pub expires_in: Option<u64>,
    /// `scope`, when the server said.
    pub scope: Option<String>,
}

/// What an answer means.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A token to forward.
    Issued(Issued),
    /// The server refused this caller's token for this audience (RFC 8693 §2.2.2:
    /// `invalid_grant`, `invalid_target`, `invalid_scope`, `unauthorized_client`).
    Refused {
        /// The `error` code.
        error: String,
        /// `error_description`, printable ASCII only.
        description: Option<String>,
    },
    /// No answer, or none that can be used: why, for the log.
    Unavailable(String),
}

/// The errors that say this caller may not have a token for this audience: the contract's
/// four, `invalid_request` (RFC 8693 §2.2.2: the answer to a subject token that is invalid or
/// unacceptable) and `access_denied` (Keycloak's answer to a policy refusal). The others
/// (`invalid_client`, `unsupported_grant_type`, …) are the gateway's configuration or the
/// server's failure, which the caller cannot mend.
const REFUSALS: [&str; 6] = [
    "invalid_grant",
    "invalid_target",
    "invalid_scope",
    "unauthorized_client",
    "invalid_request",
    "access_denied",
];

/// Reads the answer (`status` `None`: there was none).
pub fn read(status: Option<u16>, body: &[u8]) -> Outcome {
    let unavailable = |why: &str| Outcome::Unavailable(why.to_string());
    let Some(status) = status else {
        return unavailable("no answer (timeout or connection failure)");
    };
    if body.len() > MAX_ANSWER {
        return unavailable("the answer is too long");
    }
    let doc = serde_json::from_slice::<Value>(body).ok();
    let doc = doc.as_ref().and_then(Value::as_object);
    match (status, doc) {
        (200, Some(doc)) => issued(doc).map_or_else(unavailable, Outcome::Issued),
        (200, None) => unavailable("the answer is not a JSON object"),
        // RFC 6749 §5.2: an error answer is a 400 (401 for client authentication).
        (400 | 401 | 403, Some(doc)) => refusal(doc),
        (s, _) => Outcome::Unavailable(format!("HTTP status {s}")),
    }
}

fn issued(doc: &Map<String, Value>) -> Result<Issued, &'static str> {
    let text = |name: &str| doc.get(name).and_then(Value::as_str);
    let token = text("access_token").ok_or("no access_token")?;
    if token.is_empty()
        || token.len() > MAX_TOKEN
        || !token.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        return Err("the access_token cannot be sent as a bearer token");
    }
    let issued_token_type = text("issued_token_type").ok_or("no issued_token_type")?;
    // It is forwarded as a bearer token: a token of another kind (`N_A`) is not one.
    if !text("token_type").is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
        return Err("the token_type is not Bearer");
    }
    // A number of seconds (RFC 6749 §5.1); some servers send it as a string ("3599": Azure
    // AD v1) or with a fraction, which say the same.
    let expires_in = match doc.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            s.parse()
                .map_err(|_| "expires_in is not a number of seconds")?,
        ),
        Some(v) => match (v.as_u64(), v.as_f64()) {
            (Some(n), _) => Some(n),
            (None, Some(f)) if f.is_finite() && f >= 0.0 => Some(f as u64),
            _ => return Err("expires_in is not a number of seconds"),
        },
    };
    Ok(Issued {
        token: token.to_string(),
        issued_token_type: issued_token_type.to_string(),
        expires_in,
        scope: text("scope").map(str::to_string),
    })
}

fn refusal(doc: &Map<String, Value>) -> Outcome {
    let Some(error) = doc.get("error").and_then(Value::as_str) else {
        return Outcome::Unavailable("an error answer without an error code".into());
    };
    if !REFUSALS.contains(&error) {
        return Outcome::Unavailable(format!("the server answered {}", printable(error)));
    }
    Outcome::Refused {
        error: error.to_string(),
        description: doc
            .get("error_description")
            .and_then(Value::as_str)
            .map(printable)
            .filter(|d| !d.is_empty()),
    }
}

/// `s` cut to printable ASCII (RFC 6749 §5.2's character set for `error_description`), for a
/// log line or a reply's detail.
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
        .take(MAX_ERROR)
        .collect()
}
