//! Compiled rules: which requests a rule applies to and what it requires.

use crate::reply::Challenge;
use crate::request::Request;

/// How a rule matches the path (without its query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// String prefix, as Envoy's route `prefix`.
    Prefix(String),
    /// Exact path, as Envoy's route `path`.
    Exact(String),
}

/// One entry of `match.hosts`, against `:authority` without its port, lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// This name exactly.
    Exact(String),
    /// `*.example.com`: a name ending in `.example.com` with at least one label before it.
    Suffix(String),
}

impl HostMatch {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Exact(h) => host == h,
            HostMatch::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

/// What a `match.headers` entry tests, as Envoy's `HeaderMatcher`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderTest {
    /// The value equals this.
    Exact(String),
    /// The value starts with this.
    Prefix(String),
    /// The header is present (`true`) or absent (`false`).
    Present(bool),
}

/// One entry of `match.headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    /// The header (lower-case).
    pub name: String,
    /// The test on its value (repeated lines joined with commas, as Envoy's matcher sees it).
    pub test: HeaderTest,
    /// The test's result is inverted.
    pub invert: bool,
}

impl HeaderMatch {
    fn matches(&self, req: &Request) -> bool {
        let value = req.header(&self.name);
        let hit = match (&self.test, value.as_deref()) {
            (HeaderTest::Present(want), v) => v.is_some() == *want,
            (_, None) => false,
            (HeaderTest::Exact(x), Some(v)) => v == x,
            (HeaderTest::Prefix(p), Some(v)) => v.starts_with(p.as_str()),
        };
        hit != self.invert
    }
}

/// The host of an `:authority`: without its port, lower-case; an IPv6 literal keeps its
/// brackets (`[::1]:8080` → `[::1]`).
pub fn host_of(authority: &str) -> String {
    split_authority(authority).0
}

/// An `:authority` as its host ([`host_of`]) and its port, when it names one.
pub fn split_authority(authority: &str) -> (String, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some((inside, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':');
            return (format!("[{}]", inside.to_ascii_lowercase()), port);
        }
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, port))
            if !authority.starts_with('[') && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (h, Some(port))
        }
        _ => (authority, None),
    };
    (host.trim_end_matches('.').to_ascii_lowercase(), port)
}

/// What a rule requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// No authentication.
    None,
    /// Any one of these providers (indexes into the provider list), tried in order.
    Any(Vec<usize>),
    /// Every one of these providers.
    All(Vec<usize>),
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `rules[i]`, or `default` for the implicit last rule; used in logs.
    pub label: String,
    /// Path condition.
    pub path: PathMatch,
    /// Methods; empty means every method.
    pub methods: Vec<String>,
    /// Hosts (`:authority`); empty means every host.
    pub hosts: Vec<HostMatch>,
    /// Header conditions, every one of which must hold.
    pub headers: Vec<HeaderMatch>,
    /// What the rule requires.
    pub requires: Requirement,
    /// A request with no credential at all passes; one that is present must be valid.
    pub allow_missing: bool,
    /// Scopes a token must hold (checked by the `jwt` provider).
    pub scopes: Vec<String>,
    /// Conditions on the authenticated credential's claims.
    pub conditions: Vec<crate::conditions::Condition>,
    /// The identities allowed (empty: any).
    pub identities: Vec<String>,
    /// Challenges advertised in replies, one per provider in the rule's order.
    pub challenges: Vec<Challenge>,
    /// The MCP calls the rule concerns; such a rule applies only to a `POST` whose body is
    /// one (see [`Rule::reads_body`]).
    pub mcp: Option<crate::mcp::select::McpMatch>,
    /// `token_exchange`: the upstream gets a token issued for it instead of the caller's.
    pub exchange: Option<std::rc::Rc<crate::exchange::Exchange>>,
    /// `assertion`: a pass carries a signed identity assertion.
    pub assertion: bool,
}

impl Rule {
    /// Whether the rule applies to `method` on `path` (query already removed) of `req`: every
    /// part of its `match` holds. Host and headers are read only when the rule names them.
    pub fn matches(&self, req: &Request, method: &str, path: &str) -> bool {
        let path_ok = match &self.path {
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
            PathMatch::Exact(p) => path == p,
        };
        path_ok
            && (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
            && (self.hosts.is_empty() || {
                let authority = req.authority();
                let host = host_of(authority.as_deref().unwrap_or(""));
                self.hosts.iter().any(|h| h.matches(&host))
            })
            && self.headers.iter().all(|h| h.matches(req))
    }

    /// Whether the rule, its path, method, hosts and headers matching, can apply only once the
    /// body is read: it has `match.mcp` and the request is a `POST`, whatever its content type
    /// says (servers read JSON under other types too, so a type must not skip the rule).
    /// `None`: it cannot apply to this request at all.
    pub fn reads_body(&self, method: &str) -> Option<bool> {
        if self.mcp.is_none() {
            return Some(false);
        }
        (method == "POST").then_some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: PathMatch, methods: &[&str]) -> Rule {
        Rule {
            label: "r".into(),
            path,
            methods: methods.iter().map(|m| m.to_string()).collect(),
            hosts: vec![],
            headers: vec![],
            requires: Requirement::None,
            allow_missing: false,
            scopes: vec![],
            conditions: vec![],
            identities: vec![],
            challenges: vec![],
            mcp: None,
            exchange: None,
            assertion: false,
        }
    }

    #[test]
    fn matching_table() {
        let admin = rule(PathMatch::Prefix("/admin".into()), &["POST", "DELETE"]);
        let feed = rule(PathMatch::Exact("/public/feed".into()), &[]);
        let cases = [
            ("prefix and method", &admin, "POST", "/admin/users", true),
            (
                "prefix is a string prefix",
                &admin,
                "POST",
                "/administrator",
                true,
            ),
            ("other method", &admin, "GET", "/admin", false),
            (
                "methods are case-sensitive",
                &admin,
                "post",
                "/admin",
                false,
            ),
            ("other path", &admin, "POST", "/", false),
            ("exact", &feed, "GET", "/public/feed", true),
            ("exact is exact", &feed, "GET", "/public/feed/", false),
        ];
        let view = crate::request::HeaderList::new("GET", "/", &[]);
        let req = Request::new(&view);
        for (name, r, method, path, want) in cases {
            assert_eq!(r.matches(&req, method, path), want, "{name}");
        }
    }

    #[test]
    fn hosts_as_envoys_virtual_host_domains() {
        let mut r = rule(PathMatch::Prefix("/".into()), &[]);
        r.hosts = vec![
            HostMatch::Exact("shop.example.com".into()),
            HostMatch::Suffix(".internal.example.com".into()),
            HostMatch::Exact("[::1]".into()),
        ];
        let cases = [
            ("exact", "shop.example.com", true),
            ("with a port", "shop.example.com:8443", true),
            ("upper case", "SHOP.Example.COM", true),
            ("trailing dot", "shop.example.com.", true),
            ("wildcard, one label", "a.internal.example.com", true),
            ("wildcard, two labels", "a.b.internal.example.com:80", true),
            (
                "wildcard is not the bare domain",
                "internal.example.com",
                false,
            ),
            (
                "only ends like the suffix",
                "evilinternal.example.com",
                false,
            ),
            ("another host", "example.com", false),
            ("IPv6 with a port", "[::1]:8080", true),
            ("IPv6 without", "[::1]", true),
            ("another IPv6", "[::2]:8080", false),
        ];
        for (name, authority, want) in cases {
            let view = crate::request::HeaderList::new("GET", "/", &[(":authority", authority)]);
            assert_eq!(r.matches(&Request::new(&view), "GET", "/x"), want, "{name}");
        }
    }

    #[test]
    fn header_matchers_as_envoys() {
        let m = |test, invert| HeaderMatch {
            name: "x-v".into(),
            test,
            invert,
        };
        let cases = [
            (
                "exact",
                m(HeaderTest::Exact("2".into()), false),
                Some("2"),
                true,
            ),
            (
                "exact differs",
                m(HeaderTest::Exact("2".into()), false),
                Some("20"),
                false,
            ),
            (
                "exact, absent",
                m(HeaderTest::Exact("2".into()), false),
                None,
                false,
            ),
            (
                "prefix",
                m(HeaderTest::Prefix("prod".into()), false),
                Some("prod-eu"),
                true,
            ),
            (
                "present",
                m(HeaderTest::Present(true), false),
                Some(""),
                true,
            ),
            (
                "present, absent",
                m(HeaderTest::Present(true), false),
                None,
                false,
            ),
            ("absent", m(HeaderTest::Present(false), false), None, true),
            (
                "invert exact",
                m(HeaderTest::Exact("2".into()), true),
                Some("3"),
                true,
            ),
            (
                "invert, absent",
                m(HeaderTest::Exact("2".into()), true),
                None,
                true,
            ),
        ];
        for (name, matcher, value, want) in cases {
            let headers: Vec<(&str, &str)> = value.map(|v| ("x-v", v)).into_iter().collect();
            let view = crate::request::HeaderList::new("GET", "/", &headers);
            assert_eq!(matcher.matches(&Request::new(&view)), want, "{name}");
        }
        // Repeated lines are one comma-joined value, as Envoy's HeaderMatcher sees them.
        let view = crate::request::HeaderList::new("GET", "/", &[("x-v", "a"), ("x-v", "b")]);
        let joined = m(HeaderTest::Exact("a,b".into()), false);
        assert!(joined.matches(&Request::new(&view)));
    }
}
