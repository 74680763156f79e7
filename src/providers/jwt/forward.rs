//! Claims into headers for upstream (`claim_to_headers`): strings as they are, numbers and
//! booleans as JSON, arrays joined by commas, objects as JSON. A value holding CR, LF or NUL
//! is never written into a header.

use super::RawClaimToHeader;
use crate::error::ConfigError;
use crate::schema::fields;
use serde_json::{Map, Value};

/// `claim_to_headers` of provider `field` as `(claim path, header)` pairs.
pub fn compile(
    field: &str,
    list: Option<&[RawClaimToHeader]>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (i, c) in list.unwrap_or_default().iter().enumerate() {
        if c.claim_name.is_empty() {
            return Err(ConfigError::new(
                format!("{field}.claim_to_headers[{i}].claim_name"),
                "must not be empty",
            ));
        }
        let h = fields::header_to_set(
            &format!("{field}.claim_to_headers[{i}].header_name"),
            &c.header_name,
        )?;
        out.push((c.claim_name.clone(), h));
    }
    Ok(out)
}

/// The headers `pairs` (claim path, header) make of `claims`.
pub fn headers(claims: &Map<String, Value>, pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter_map(|(claim, header)| {
            let v = lookup(claims, claim).and_then(render)?;
            Some((header.clone(), v))
        })
        .collect()
}

/// The claim at `path` (`a.b.c` walks into nested objects; an exact top-level name wins).
pub fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut cur = claims.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// The header value for a claim, or `None` when it has none or cannot be sent safely.
pub fn render(v: &Value) -> Option<String> {
    let s = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    (!s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn render_table() {
        let cases = [
            (json!("alice"), Some("alice")),
            (json!(42), Some("42")),
            (json!(1.5), Some("1.5")),
            (json!(true), Some("true")),
            (json!(["a", "b", 3]), Some("a,b,3")),
            (json!({"k": "v"}), Some("{\"k\":\"v\"}")),
            (json!(null), None),
            (json!("a\r\nx-admin: 1"), None),
            (json!(["ok", "bad\n"]), None),
            (json!("nul\u{0}"), None),
        ];
        for (v, want) in cases {
            assert_eq!(render(&v).as_deref(), want, "{v}");
        }
    }

    #[test]
    fn nested_lookup() {
        let claims = json!({"a": {"b": {"c": "deep"}}, "x.y": "flat"});
        let m = claims.as_object().unwrap();
        assert_eq!(lookup(m, "a.b.c"), Some(&json!("deep")));
        assert_eq!(lookup(m, "x.y"), Some(&json!("flat")));
        assert_eq!(lookup(m, "a.z"), None);
    }
}
