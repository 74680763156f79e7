//! The `htu` of a DPoP proof against the request (RFC 9449 §4.3 check 9): both are reduced to
//! scheme, authority and path, without query or fragment, and normalised as RFC 3986 §6.2.2
//! and §6.2.3 describe — case of scheme and host, percent-encoding, default ports, an empty
//! path — so that equivalent URIs compare equal and nothing else does.

/// `uri` normalised, or `None` when it is not an absolute http(s) URI without user info.
pub fn normalize(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let mut authority = percent(authority)?.to_ascii_lowercase();
    if authority.ends_with(default_port) && !authority.ends_with("]") {
        authority.truncate(authority.len() - default_port.len());
    }
    let path = if path.is_empty() {
        "/".into()
    } else {
        percent(path)?
    };
    Some(format!("{scheme}://{authority}{path}"))
}

/// The request's own URI from its pseudo-headers: `:scheme` (default `http`), `:authority`
/// and `:path` (its query dropped), normalised.
pub fn of_request(scheme: Option<&str>, authority: &str, path: &str) -> Option<String> {
    normalize(&format!("{}://{authority}{path}", scheme.unwrap_or("http")))
}

/// Percent-encoding normalised: hex digits upper-case, unreserved characters decoded
/// (RFC 3986 §6.2.2.1, §6.2.2.2). `None` for a `%` not followed by two hex digits.
fn percent(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i] as char);
            i += 1;
            continue;
        }
        let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
        let v = u8::from_str_radix(hex, 16).ok()?;
        if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
            out.push(v as char);
        } else {
            out.push_str(&format!("%{v:02X}"));
        }
        i += 3;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_uris_compare_equal() {
        let same = [
            // RFC 9449 §4.2's example proof names https://server.example.com/token.
            (
                "https://server.example.com/token",
                "https://server.example.com/token",
            ),
            (
                "HTTPS://Server.Example.COM/token",
                "https://server.example.com/token",
            ),
            (
                "https://server.example.com:443/token",
                "https://server.example.com/token",
            ),
            ("http://server.example.com:80", "http://server.example.com/"),
            (
                "https://server.example.com/to%6Ben?x=1#f",
                "https://server.example.com/token",
            ),
            (
                "https://server.example.com/a%2fb",
                "https://server.example.com/a%2Fb",
            ),
            ("https://[::1]:443/x", "https://[::1]/x"),
        ];
        for (a, b) in same {
            assert_eq!(normalize(a).as_deref(), Some(b), "{a}");
        }
        let different = [
            (
                "https://server.example.com/token",
                "http://server.example.com/token",
            ),
            (
                "https://server.example.com/token",
                "https://server.example.com:8443/token",
            ),
            (
                "https://server.example.com/Token",
                "https://server.example.com/token",
            ),
        ];
        for (a, b) in different {
            assert_ne!(normalize(a), normalize(b), "{a} {b}");
        }
        for bad in [
            "/token",
            "ftp://x/y",
            "https://user@x/y",
            "https://x/%zz",
            "https:///x",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
        assert_eq!(
            of_request(Some("https"), "api.example:443", "/orders?id=1").as_deref(),
            Some("https://api.example/orders")
        );
    }
}
