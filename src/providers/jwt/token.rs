//! Parses a JWS compact serialization (RFC 7515 §7.1) without trusting it: header checks
//! (algorithm, `crit`, nesting), strict JSON, and the registered claims authgate reads.
//! Signature checking is the verifier's job; this only refuses what can never be valid.

use super::alg::Alg;
use super::jwks::b64url;
use crate::json;
use serde_json::{Map, Value};

/// Longest token looked at; longer ones are refused undecoded.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Longest `kid` accepted.
const MAX_KID_LEN: usize = 256;

/// A parsed, not yet verified token.
#[derive(Debug)]
pub struct Token<'a> {
    /// The signature algorithm from the header.
    pub alg: Alg,
    /// `kid` from the header.
    pub kid: Option<String>,
    /// `header.payload`, what the signature covers.
    pub signing_input: &'a str,
    /// The payload segment as sent (base64url), for `forward_payload_header`.
    pub payload_b64: &'a str,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// The registered claims.
    pub claims: Claims,
}

/// Registered claims (RFC 7519 §4.1) plus the scope claims, with every other claim kept for
/// `claim_to_headers`.
#[derive(Debug, Default)]
pub struct Claims {
    /// `iss`.
    pub iss: Option<String>,
    /// `aud`, a string or an array of strings (RFC 7519 §4.1.3).
    pub aud: Vec<String>,
    /// `exp` (NumericDate: seconds, may be fractional).
    pub exp: Option<f64>,
    /// `nbf`.
    pub nbf: Option<f64>,
    /// Scopes from `scope` (space-separated, RFC 8693 §4.2) or `scp` (array or string).
    pub scopes: Vec<String>,
    /// The whole claims object.
    pub all: Map<String, Value>,
}

/// Parses `token`. Errors are fixed phrases, safe to show and log.
pub fn parse(token: &str) -> Result<Token<'_>, &'static str> {
    if token.len() > MAX_TOKEN_LEN {
        return Err("token too large");
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), rest) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed token");
    };
    if rest.is_some() {
        return Err("encrypted tokens (JWE) are not accepted");
    }
    let header = b64url(h)
        .and_then(|b| json::parse_strict(&b).ok())
        .ok_or("malformed token header")?;
    let Value::Object(header) = header else {
        return Err("malformed token header");
    };
    let alg = match header.get("alg") {
        Some(Value::String(a)) if a.eq_ignore_ascii_case("none") => {
            return Err("unsigned tokens (alg none) are not accepted")
        }
        Some(Value::String(a)) => Alg::from_name(a).ok_or("unsupported signature algorithm")?,
        _ => return Err("malformed token header"),
    };
    // RFC 7515 §4.1.11: a `crit` the recipient does not understand makes the token invalid;
    // authgate understands no extension.
    if header.contains_key("crit") {
        return Err("token uses a critical header extension that is not supported");
    }
    if header
        .get("cty")
        .and_then(Value::as_str)
        .is_some_and(|c| c.eq_ignore_ascii_case("JWT"))
    {
        return Err("nested tokens are not accepted");
    }
    if header.get("b64").is_some() {
        return Err("token uses a critical header extension that is not supported");
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if k.len() <= MAX_KID_LEN => Some(k.clone()),
        Some(_) => return Err("malformed key id"),
    };
    let claims = b64url(p)
        .and_then(|b| json::parse_strict(&b).ok())
        .ok_or("malformed token claims")?;
    let Value::Object(all) = claims else {
        return Err("malformed token claims");
    };
    let signature = b64url(s).ok_or("malformed token signature")?;
    Ok(Token {
        alg,
        kid,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload_b64: p,
        signature,
        claims: Claims::from_map(all)?,
    })
}

/// Past the last second a signed 64-bit time holds (2^63).
const MAX_DATE: f64 = 9_223_372_036_854_775_808.0;

impl Claims {
    /// The registered claims of `all`, checked for their types (also used for RFC 7662 answers,
    /// whose members are the same).
    pub fn from_map(all: Map<String, Value>) -> Result<Self, &'static str> {
        let string = |name, err| match all.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(err),
        };
        // RFC 7519 §2: NumericDate is a JSON number of seconds since the epoch; a string is
        // not one, and neither is a time before the epoch or past what a 64-bit time holds
        // (as jwt_verify_lib reads them).
        let date = |name, not_number, out_of_range| match all.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|f| (0.0..MAX_DATE).contains(f))
                .map(Some)
                .ok_or(out_of_range),
            Some(_) => Err(not_number),
        };
        let iss = string("iss", "`iss` is not a string")?;
        // RFC 7519 §4.1.2 and §4.1.7: `sub` and `jti` are strings (a StringOrURI, a
        // case-sensitive string); a number, object or array there is malformed.
        string("sub", "`sub` is not a string")?;
        string("jti", "`jti` is not a string")?;
        let aud = match all.get("aud") {
            None => vec![],
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or("`aud` is not a string or an array of strings")?,
            Some(_) => return Err("`aud` is not a string or an array of strings"),
        };
        let exp = date(
            "exp",
            "`exp` is not a number",
            "`exp` is before 1970 or past 2^63 s",
        )?;
        let nbf = date(
            "nbf",
            "`nbf` is not a number",
            "`nbf` is before 1970 or past 2^63 s",
        )?;
        date(
            "iat",
            "`iat` is not a number",
            "`iat` is before 1970 or past 2^63 s",
        )?;
        let mut scopes: Vec<String> = match all.get("scope") {
            None => vec![],
            Some(Value::String(s)) => s
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            Some(_) => return Err("`scope` is not a string"),
        };
        match all.get("scp") {
            None => {}
            Some(Value::String(s)) => {
                scopes.extend(s.split(' ').filter(|s| !s.is_empty()).map(str::to_string))
            }
            Some(Value::Array(list)) => {
                for v in list {
                    scopes.push(
                        v.as_str()
                            .ok_or("`scp` is not an array of strings")?
                            .to_string(),
                    );
                }
            }
            Some(_) => return Err("`scp` is not an array of strings"),
        }
        Ok(Claims {
            iss,
            aud,
            exp,
            nbf,
            scopes,
            all,
        })
    }
}
