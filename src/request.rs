//! The request as the core sees it: a source of header values, read lazily and at most once
//! each, so that the host adapter makes one host call per header the decision really needs.

/// Where request headers come from: the proxy in production, a plain list in tests.
/// Names are lower-case; `:method` and `:path` are pseudo-headers, as in HTTP/2 and Envoy.
pub trait RequestView {
    /// The value of header `name`, or `None` when absent. Envoy hands repeated headers joined
    /// with commas.
    fn header(&self, name: &str) -> Option<String>;

    /// Every value of header `name`, one per header line. Envoy hands a filter only the first
    /// line of most headers, so a credential header must be read this way to see a second copy.
    fn header_values(&self, name: &str) -> Vec<String> {
        self.header(name).into_iter().collect()
    }

    /// Whether header `name` is present (without building its value).
    fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// The SHA-256 (hex) of the client certificate of the TLS connection, when there is one
    /// and the adapter was asked for it. Never a header: a client cannot set it.
    fn peer_certificate_sha256(&self) -> Option<String> {
        None
    }

    /// Whether the downstream connection is TLS, when the adapter was asked for it (`None`:
    /// not known). Never a header: a client cannot set it.
    fn connection_tls(&self) -> Option<bool> {
        None
    }

    /// The MCP message of the body, once the body was read (a rule with `match.mcp` asked
    /// for it); `None` before.
    fn mcp(&self) -> Option<&crate::mcp::Read> {
        None
    }
}

/// A request's headers with what its connection says and, once read, its body's MCP message.
pub struct WithPeer<'a> {
    /// The headers.
    pub view: &'a dyn RequestView,
    /// The client certificate's SHA-256 (hex), if any.
    pub peer_certificate_sha256: Option<String>,
    /// Whether the connection is TLS, if known.
    pub connection_tls: Option<bool>,
    /// The body as the rules read it, when it was read.
    pub mcp: Option<&'a crate::mcp::Read>,
}

impl RequestView for WithPeer<'_> {
    fn header(&self, name: &str) -> Option<String> {
        self.view.header(name)
    }

    fn header_values(&self, name: &str) -> Vec<String> {
        self.view.header_values(name)
    }

    fn has(&self, name: &str) -> bool {
        self.view.has(name)
    }

    fn peer_certificate_sha256(&self) -> Option<String> {
        self.peer_certificate_sha256.clone()
    }

    fn connection_tls(&self) -> Option<bool> {
        self.connection_tls
    }

    fn mcp(&self) -> Option<&crate::mcp::Read> {
        self.mcp
    }
}

/// The body's MCP message ([`crate::mcp::read`]) with the headers it is read with taken from
/// `view` (`body` `None`: longer than the most that is read).
pub fn mcp_from(body: Option<&[u8]>, view: &dyn RequestView) -> crate::mcp::Read {
    let (encoding, method, name) = (
        view.header("content-encoding"),
        view.header("mcp-method"),
        view.header("mcp-name"),
    );
    crate::mcp::read(
        body,
        crate::mcp::BodyHeaders {
            encoding: encoding.as_deref(),
            method: method.as_deref(),
            name: name.as_deref(),
        },
    )
}

/// A fixed list of headers, for tests and tools.
#[derive(Debug, Clone, Default)]
pub struct HeaderList(pub Vec<(String, String)>);

impl HeaderList {
    /// A request with `method` and `path` and the given headers (names are lower-cased).
    pub fn new(method: &str, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut all = vec![
            (":method".to_string(), method.to_string()),
            (":path".to_string(), path.to_string()),
        ];
        all.extend(
            headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())),
        );
        HeaderList(all)
    }
}

impl RequestView for HeaderList {
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// Repeated headers are joined with `,` as Envoy does for the ones the core reads.
    fn header(&self, name: &str) -> Option<String> {
        joined(
            self.0
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str()),
        )
    }

    fn header_values(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// The request headers as the proxy hands them over in one call: names and raw values
/// (non-UTF-8 bytes read as U+FFFD, never as an error).
#[derive(Debug, Clone, Default)]
pub struct HeaderPairs(pub Vec<(String, Vec<u8>)>);

impl RequestView for HeaderPairs {
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    fn header(&self, name: &str) -> Option<String> {
        let mut lines = self.0.iter().filter(|(k, _)| k == name);
        let mut out = String::from_utf8_lossy(&lines.next()?.1).into_owned();
        for (_, v) in lines {
            out.push(',');
            out.push_str(&String::from_utf8_lossy(v));
        }
        Some(out)
    }

    fn header_values(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }
}

/// The lines of one header joined with `,`, as Envoy joins a repeated `Authorization`, so two
/// credentials never read as one; `None` when there is no line.
pub fn joined<'a>(mut lines: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut out = lines.next()?.to_string();
    for line in lines {
        out.push(',');
        out.push_str(line);
    }
    Some(out)
}

/// One decision's reading of a request. Every host hands the headers over in memory (one copy
/// per request), so a lookup is a scan of a few entries: cheaper than keeping what was read
/// (measured on the native module's API key path: the memo cost ~4 allocations a lookup).
pub struct Request<'a> {
    view: &'a dyn RequestView,
}

impl<'a> Request<'a> {
    /// Wraps a view for one decision.
    pub fn new(view: &'a dyn RequestView) -> Self {
        Request { view }
    }

    /// Header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.view.header(name)
    }

    /// Every line of header `name` (not memoised: read once per credential source).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.view.header_values(name)
    }

    /// The client certificate's SHA-256 (hex), when the connection has one.
    pub fn peer_certificate_sha256(&self) -> Option<String> {
        self.view.peer_certificate_sha256()
    }

    /// Whether the downstream connection is TLS, when the adapter knows.
    pub fn connection_tls(&self) -> Option<bool> {
        self.view.connection_tls()
    }

    /// The body's MCP message, once read.
    pub fn mcp(&self) -> Option<&'a crate::mcp::Read> {
        self.view.mcp()
    }

    /// `:method`, empty when the proxy gave none.
    pub fn method(&self) -> String {
        self.header(":method").unwrap_or_default()
    }

    /// `:authority`, or `host` when a proxy gave only that.
    pub fn authority(&self) -> Option<String> {
        self.header(":authority").or_else(|| self.header("host"))
    }

    /// `:path`, query included, as sent.
    pub fn path_and_query(&self) -> String {
        self.header(":path").unwrap_or_default()
    }

    /// The path without its query in normal form ([`crate::path`]), what rules match on; as
    /// sent when it has none (where a rule reads the path, such a request is refused first).
    pub fn path(&self) -> String {
        let pq = self.path_and_query();
        let raw = path_only(&pq);
        match crate::path::normal(raw) {
            Ok(n) => n.path.into_owned(),
            Err(_) => raw.to_string(),
        }
    }
}

/// Whether `value` is exactly one `host[:port]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a DNS
/// name or IPv4 address (non-empty labels of letters, digits, `-`, `_`, `~`, joined by `.`,
/// one trailing dot allowed) or a bracketed IPv6 literal,
/// then optionally `:` and a port of 1 to 5 digits up to 65535. A comma (Envoy's join of two
/// `Host` lines), whitespace, userinfo, an empty host or a bad port make it not one.
pub fn valid_authority(value: &str) -> bool {
    if let Some(v6) = value.strip_prefix('[') {
        let Some((addr, rest)) = v6.split_once(']') else {
            return false;
        };
        let addr_ok = !addr.is_empty()
            && addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        return addr_ok && (rest.is_empty() || rest.strip_prefix(':').is_some_and(valid_port));
    }
    let (host, port) = match value.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (value, None),
    };
    // Labels are not empty (`.`, `a..b` and `.a` name no host); one trailing dot is allowed.
    let name = host.strip_suffix('.').unwrap_or(host);
    let host_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~'))
    });
    host_ok && port.is_none_or(valid_port)
}

/// A port of 1 to 5 digits, at most 65535.
fn valid_port(p: &str) -> bool {
    (1..=5).contains(&p.len())
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u32>().is_ok_and(|n| n <= 65535)
}

/// The path without its query string or fragment.
pub fn path_only(path_and_query: &str) -> &str {
    let end = path_and_query
        .find(['?', '#'])
        .unwrap_or(path_and_query.len());
    &path_and_query[..end]
}

/// The query string (after `?`, before `#`), if any.
pub fn query_of(path_and_query: &str) -> Option<&str> {
    let before_fragment =
        &path_and_query[..path_and_query.find('#').unwrap_or(path_and_query.len())];
    let start = before_fragment.find('?')? + 1;
    Some(&before_fragment[start..])
}

/// Percent-decodes a query component (`+` is a space, as in form encoding). Invalid escapes
/// are kept as they are; the result is `None` when it is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                b.get(i + 1).and_then(|c| crate::path::hex_val(*c)),
                b.get(i + 2).and_then(|c| crate::path::hex_val(*c)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The `name=value` pairs of a `Cookie` header (RFC 6265 §4.2.1), values unquoted. Only `;`
/// separates pairs: a comma belongs to the value (`a=x,__Host-b=y` is one cookie `a`), so a
/// value cannot smuggle a second cookie past whoever reads the header after authgate.
pub fn cookies(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(v);
        Some((k.trim(), v))
    })
}

/// Every `Cookie` line of a request as one header, joined with `; ` (RFC 6265 §5.4 and
/// RFC 9113 §8.2.3: the lines are one list); `None` when there is none.
pub fn cookie_header(req: &Request) -> Option<String> {
    let lines = req.header_values("cookie");
    (!lines.is_empty()).then(|| lines.join("; "))
}

/// `header` without the cookies whose name `drop` says, every other pair exactly as the
/// client wrote it (only the separators become `; `); `None` when nothing is left.
pub fn cookies_except(header: &str, drop: impl Fn(&str) -> bool) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(|p| p.trim_matches([' ', '\t']))
        .filter(|p| !p.is_empty())
        .filter(|p| !drop(p.split_once('=').map_or(*p, |(k, _)| k).trim()))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query_split() {
        let cases = [
            ("/a/b?x=1#f", "/a/b", Some("x=1")),
            ("/a", "/a", None),
            ("/a#f?x", "/a", None),
            ("/?", "/", Some("")),
        ];
        for (input, path, query) in cases {
            assert_eq!(path_only(input), path, "{input}");
            assert_eq!(query_of(input), query, "{input}");
        }
    }

    #[test]
    fn authorities() {
        let cases = [
            ("name", "api.example.com", true),
            ("name and port", "api.example.com:8443", true),
            ("upper case", "API.Example.COM", true),
            ("trailing dot", "api.example.com.", true),
            ("ipv4", "127.0.0.1:10000", true),
            ("ipv6", "[::1]", true),
            ("ipv6 and port", "[2001:db8::1]:443", true),
            ("underscore", "my_service.ns.svc", true),
            ("port 65535", "h:65535", true),
            (
                "two Host lines joined",
                "internal.example.com,x.open.example.com",
                false,
            ),
            ("joined with a space", "a.example.com, b.example.com", false),
            ("empty", "", false),
            ("empty host", ":8080", false),
            ("empty port", "h:", false),
            ("port too large", "h:65536", false),
            ("port of six digits", "h:000080", false),
            ("port not digits", "h:80a", false),
            ("two ports", "h:80:81", false),
            ("userinfo", "user@h", false),
            ("space", "a b", false),
            ("tab", "h\t", false),
            ("path", "h/x", false),
            ("ipv6 unclosed", "[::1", false),
            ("ipv6 empty", "[]", false),
            ("ipv6 then junk", "[::1]x", false),
            ("ipv6 bad chars", "[::g]", false),
            ("ipv6 unbracketed", "::1", false),
            ("non-ascii", "exämple.com", false),
            ("only a dot", ".", false),
            ("an empty label", "a..example.com", false),
            ("a leading dot", ".example.com", false),
            ("two trailing dots", "example.com..", false),
        ];
        for (name, value, want) in cases {
            assert_eq!(valid_authority(value), want, "{name}: {value:?}");
        }
    }

    #[test]
    fn percent_decoding() {
        let cases = [
            ("a%20b", Some("a b")),
            ("a+b", Some("a b")),
            ("%zz", Some("%zz")),
            ("%4", Some("%4")),
            ("%", Some("%")),
            ("%C3%A9", Some("é")),
            ("%FF", None),
        ];
        for (input, want) in cases {
            assert_eq!(percent_decode(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn cookie_pairs() {
        let got: Vec<_> = cookies("a=1; b=\"2\";c=3; d = 4").collect();
        assert_eq!(got, vec![("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
    }

    #[test]
    fn a_comma_is_part_of_a_cookie_value() {
        for (name, header, want) in [
            (
                "comma smuggles no cookie",
                "pref=x,__Host-sid=attacker",
                vec![("pref", "x,__Host-sid=attacker")],
            ),
            ("two pairs", "a=1;b=2", vec![("a", "1"), ("b", "2")]),
            ("no value", "a; b=", vec![("b", "")]),
        ] {
            assert_eq!(cookies(header).collect::<Vec<_>>(), want, "{name}");
        }
    }

    #[test]
    fn cookies_kept_as_sent() {
        for (name, header, want) in [
            (
                "raw pairs kept",
                "pref=x,__Host-sid=attacker; sid=s",
                Some("pref=x,__Host-sid=attacker"),
            ),
            ("quotes kept", "a=\"q\";sid=1;b=2", Some("a=\"q\"; b=2")),
            ("only ours", "sid=1", None),
            ("name with spaces", " sid =1; c=3", Some("c=3")),
        ] {
            assert_eq!(
                cookies_except(header, |n| n == "sid").as_deref(),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn repeated_lines_join_with_commas_and_bytes_read_lossily() {
        let h = HeaderPairs(vec![
            ("authorization".into(), b"Basic a".to_vec()),
            ("x".into(), vec![b'o', 0xff, b'k']),
            ("authorization".into(), b"Bearer b".to_vec()),
        ]);
        assert_eq!(
            h.header("authorization").as_deref(),
            Some("Basic a,Bearer b")
        );
        assert_eq!(h.header_values("authorization"), ["Basic a", "Bearer b"]);
        assert_eq!(h.header("x").as_deref(), Some("o\u{fffd}k"));
        assert_eq!(h.header("y"), None);
        assert_eq!(Request::new(&h).header("x"), h.header("x"));
    }
}
