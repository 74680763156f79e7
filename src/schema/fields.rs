//! Checks shared by every part of the configuration: header names and values that are safe
//! to put on the wire.

use crate::error::ConfigError;

/// Headers a provider may never be told to set upstream: a client-visible credential, a
/// framing header, or something the proxy owns.
const RESERVED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "x-request-id",
];

/// An RFC 6749 §3.3 scope-token: one or more of %x21 / %x23-5B / %x5D-7E.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// RFC 9110 §5.6.2 token characters.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// A header name to read from: a token, returned lower-cased.
pub fn header_to_read(field: &str, name: &str) -> Result<String, ConfigError> {
    if !is_token(name) {
        return Err(ConfigError::new(
            field,
            "must be a header name (RFC 9110 token characters, no pseudo-headers)",
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// A header name the filter sets upstream: a token, lower-cased, not a reserved header.
pub fn header_to_set(field: &str, name: &str) -> Result<String, ConfigError> {
    let name = header_to_read(field, name)?;
    if RESERVED.contains(&name.as_str()) {
        return Err(ConfigError::new(
            field,
            format!("`{name}` cannot be set by the filter"),
        ));
    }
    Ok(name)
}

/// A value that can go into a header or a quoted-string unchanged: visible ASCII or space,
/// no `"` or `\`.
pub fn is_plain_value(s: &str) -> bool {
    s.bytes()
        .all(|c| (c == b' ' || c.is_ascii_graphic()) && c != b'"' && c != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names() {
        assert_eq!(header_to_read("f", "X-Api-Key").as_deref(), Ok("x-api-key"));
        assert!(header_to_read("f", ":path").is_err());
        assert!(header_to_read("f", "").is_err());
        assert!(header_to_read("f", "a b").is_err());
        assert!(header_to_set("f", "Authorization").is_err());
        assert!(header_to_set("f", "x-auth-user").is_ok());
    }

    #[test]
    fn plain_values() {
        assert!(is_plain_value("my api"));
        assert!(!is_plain_value("a\"b"));
        assert!(!is_plain_value("a\\b"));
        assert!(!is_plain_value("a\r\nb"));
        assert!(!is_plain_value("é"));
    }
}
