//! Reads the `Authorization` header: its scheme (matched case-insensitively, RFC 9110 §11.1)
//! and credentials, and recognises two headers that Envoy has joined into one value.

/// What the `Authorization` header holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization<'a> {
    /// No header, or an empty one.
    Absent,
    /// Two or more `Authorization` headers, which Envoy joins with commas.
    Repeated,
    /// One credential: the scheme as sent and what follows it, trimmed.
    Credentials {
        /// The auth-scheme token as sent.
        scheme: &'a str,
        /// Everything after the scheme and its separating whitespace.
        rest: &'a str,
    },
}

impl<'a> Authorization<'a> {
    /// Parses a header value as the proxy handed it.
    pub fn parse(value: Option<&'a str>) -> Self {
        let Some(value) = value.map(|v| v.trim_matches([' ', '\t'])) else {
            return Authorization::Absent;
        };
        if value.is_empty() {
            return Authorization::Absent;
        }
        let (scheme, rest) = match value.find([' ', '\t']) {
            Some(i) => (&value[..i], value[i..].trim_start_matches([' ', '\t'])),
            None => (value, ""),
        };
        if value.contains(',') && looks_repeated(scheme, value) {
            return Authorization::Repeated;
        }
        Authorization::Credentials { scheme, rest }
    }

    /// The credentials when the scheme is `scheme` (compared case-insensitively).
    pub fn for_scheme(&self, wanted: &str) -> Option<&'a str> {
        match self {
            Authorization::Credentials { scheme, rest } if scheme.eq_ignore_ascii_case(wanted) => {
                Some(rest)
            }
            _ => None,
        }
    }
}

/// Basic and Bearer credentials are token68, which has no comma, so a comma after either
/// scheme, or a second segment that starts with one of them, means two headers were joined.
/// Auth-param schemes such as Digest legitimately hold commas and are left alone.
fn looks_repeated(first_scheme: &str, value: &str) -> bool {
    let token68_scheme =
        |s: &str| s.eq_ignore_ascii_case("basic") || s.eq_ignore_ascii_case("bearer");
    token68_scheme(first_scheme)
        || value.split(',').skip(1).any(|segment| {
            let segment = segment.trim_start_matches([' ', '\t']);
            segment
                .split([' ', '\t'])
                .next()
                .is_some_and(|s| token68_scheme(s) && segment.len() > s.len())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_table() {
        let creds = |scheme, rest| Authorization::Credentials { scheme, rest };
        let cases: &[(&str, Option<&str>, Authorization)] = &[
            ("absent", None, Authorization::Absent),
            ("empty", Some("  "), Authorization::Absent),
            ("basic", Some("Basic YTpi"), creds("Basic", "YTpi")),
            (
                "lower case scheme",
                Some("basic YTpi"),
                creds("basic", "YTpi"),
            ),
            (
                "extra spaces",
                Some("Basic   YTpi "),
                creds("Basic", "YTpi"),
            ),
            ("scheme only", Some("Bearer"), creds("Bearer", "")),
            (
                "two basic joined",
                Some("Basic YTpi,Basic YzpK"),
                Authorization::Repeated,
            ),
            (
                "basic then bearer",
                Some("Basic YTpi, Bearer x.y.z"),
                Authorization::Repeated,
            ),
            (
                "digest then bearer",
                Some("Digest a=1, Bearer x"),
                Authorization::Repeated,
            ),
            (
                "digest params",
                Some("Digest a=1, b=2"),
                creds("Digest", "a=1, b=2"),
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(&Authorization::parse(*input), want, "{name}");
        }
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let a = Authorization::parse(Some("bAsIc YTpi"));
        assert_eq!(a.for_scheme("Basic"), Some("YTpi"));
        assert_eq!(a.for_scheme("Bearer"), None);
    }
}
