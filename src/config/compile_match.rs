//! Phase two for `match.hosts`, `match.headers` and `match.mcp`: the words of Envoy's virtual
//! host `domains` and `HeaderMatcher`, and the MCP calls a rule concerns, checked so that a
//! match that cannot work is refused at load with its field.

use super::raw::RawMatch;
use crate::error::ConfigError;
use crate::mcp::select::McpMatch;
use crate::rules::{HeaderMatch, HeaderTest, HostMatch};

/// `match.mcp` of rule `field`: MCP calls travel in `POST` bodies, so a rule whose `methods`
/// leave out `POST` could never apply.
pub(super) fn mcp(field: &str, m: &RawMatch) -> Result<Option<McpMatch>, ConfigError> {
    let Some(raw) = &m.mcp else {
        return Ok(None);
    };
    if m.methods
        .as_ref()
        .is_some_and(|l| !l.iter().any(|x| x == "POST"))
    {
        return Err(ConfigError::new(
            format!("{field}.match.mcp"),
            "MCP requests are POSTs, and `match.methods` leaves out POST",
        ));
    }
    let list = |name: &str, l: &Option<Vec<String>>| -> Result<Vec<String>, ConfigError> {
        let Some(l) = l else { return Ok(vec![]) };
        if l.is_empty() {
            return Err(ConfigError::new(
                format!("{field}.match.mcp.{name}"),
                "must not be empty (omit it to match any)",
            ));
        }
        for (i, p) in l.iter().enumerate() {
            if p.is_empty() || p.chars().any(char::is_control) {
                return Err(ConfigError::new(
                    format!("{field}.match.mcp.{name}[{i}]"),
                    "must be a non-empty name or pattern (`*` matches any run of characters)",
                ));
            }
        }
        Ok(l.clone())
    };
    Ok(Some(McpMatch {
        methods: list("methods", &raw.methods)?,
        tools: list("tools", &raw.tools)?,
        resources: list("resources", &raw.resources)?,
        prompts: list("prompts", &raw.prompts)?,
    }))
}

/// `match.hosts` of rule `field`.
pub(super) fn hosts(field: &str, m: &RawMatch) -> Result<Vec<HostMatch>, ConfigError> {
    let Some(list) = &m.hosts else {
        return Ok(vec![]);
    };
    if list.is_empty() {
        return Err(ConfigError::new(
            format!("{field}.match.hosts"),
            "must not be empty (omit it to match every host)",
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, h) in list.iter().enumerate() {
        let at = format!("{field}.match.hosts[{i}]");
        let h = h.to_ascii_lowercase();
        let name = h.strip_prefix("*.").unwrap_or(&h);
        let ipv6 = name.starts_with('[') && name.ends_with(']') && name.len() > 2;
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if name.contains('*') {
            return Err(ConfigError::new(
                at,
                "a wildcard is allowed only as the first label (`*.example.com`)",
            ));
        }
        if !ipv6 && name.contains(':') {
            return Err(ConfigError::new(
                at,
                "hosts match without the port: drop `:<port>`",
            ));
        }
        if !ipv6 && !name.split('.').all(label_ok) {
            return Err(ConfigError::new(at, "is not a host name"));
        }
        out.push(match h.strip_prefix('*') {
            Some(suffix) => HostMatch::Suffix(suffix.to_string()),
            None => HostMatch::Exact(h.clone()),
        });
    }
    Ok(out)
}

/// `match.headers` of rule `field`. `set_upstream` are the headers authgate sets for
/// upstream (a client could forge them, and they are removed before any rule sees them).
pub(super) fn headers(
    field: &str,
    m: &RawMatch,
    set_upstream: &[String],
) -> Result<Vec<HeaderMatch>, ConfigError> {
    let mut out = Vec::new();
    for (i, h) in m.headers.iter().flatten().enumerate() {
        let at = format!("{field}.match.headers[{i}]");
        let name = h.name.to_ascii_lowercase();
        if name.starts_with(':') && name != ":authority" && name != ":method" {
            return Err(ConfigError::new(
                format!("{at}.name"),
                format!("`{name}` cannot be matched as a header: use `prefix` or `path` for the path, `methods` for the method"),
            ));
        }
        if name.is_empty()
            || !name
                .trim_start_matches(':')
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ConfigError::new(
                format!("{at}.name"),
                "is not a header name",
            ));
        }
        if set_upstream.contains(&name) {
            return Err(ConfigError::new(
                format!("{at}.name"),
                format!("`{name}` is set by authgate for upstream; a client's value never reaches the rules"),
            ));
        }
        let test = match (&h.exact, &h.prefix, h.present) {
            (Some(v), None, None) => HeaderTest::Exact(v.clone()),
            (None, Some(p), None) => HeaderTest::Prefix(p.clone()),
            (None, None, Some(p)) => HeaderTest::Present(p),
            _ => {
                return Err(ConfigError::new(
                    at,
                    "needs exactly one of `exact`, `prefix` and `present`",
                ))
            }
        };
        out.push(HeaderMatch {
            name,
            test,
            invert: h.invert.unwrap_or(false),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    fn refusal(matcher: &str) -> String {
        let json = format!(
            r#"{{"providers": {{"k": {{"type": "api_key", "credentials": [{{"client": "c", "key": "k"}}], "forward_client_header": "x-client"}}}},
                "rules": [{{"match": {matcher}, "requires": "k"}}]}}"#
        );
        crate::config::compile(json.as_bytes(), [0; 32])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn matches_that_cannot_work_are_refused_naming_the_field() {
        let cases = [
            (
                r#"{"prefix": "/", "hosts": []}"#,
                "rules[0].match.hosts: must not be empty",
            ),
            (
                r#"{"prefix": "/", "hosts": ["api.*.example.com"]}"#,
                "rules[0].match.hosts[0]: a wildcard is allowed only as the first label",
            ),
            (
                r#"{"prefix": "/", "hosts": ["*"]}"#,
                "rules[0].match.hosts[0]: a wildcard is allowed only as the first label",
            ),
            (
                r#"{"prefix": "/", "hosts": ["ok.example", "api.example.com:8443"]}"#,
                "rules[0].match.hosts[1]: hosts match without the port",
            ),
            (
                r#"{"prefix": "/", "hosts": ["exa mple"]}"#,
                "rules[0].match.hosts[0]: is not a host name",
            ),
            (
                r#"{"prefix": "/", "headers": [{"name": "x-v", "exact": "1", "prefix": "1"}]}"#,
                "rules[0].match.headers[0]: needs exactly one of `exact`, `prefix` and `present`",
            ),
            (
                r#"{"prefix": "/", "headers": [{"name": "x-v"}]}"#,
                "rules[0].match.headers[0]: needs exactly one",
            ),
            (
                r#"{"prefix": "/", "headers": [{"name": ":path", "prefix": "/a"}]}"#,
                "rules[0].match.headers[0].name: `:path` cannot be matched as a header",
            ),
            (
                r#"{"prefix": "/", "headers": [{"name": "X-Client", "present": true}]}"#,
                "rules[0].match.headers[0].name: `x-client` is set by authgate for upstream",
            ),
            (
                r#"{"prefix": "/", "headers": [{"name": "x-v", "regex": "1"}]}"#,
                "rules[0].match.headers[0].regex: unknown field",
            ),
            (
                r#"{"prefix": "/", "methods": ["GET"], "mcp": {"tools": ["x"]}}"#,
                "rules[0].match.mcp: MCP requests are POSTs",
            ),
            (
                r#"{"prefix": "/", "mcp": {"tools": []}}"#,
                "rules[0].match.mcp.tools: must not be empty",
            ),
            (
                r#"{"prefix": "/", "mcp": {"prompts": [""]}}"#,
                "rules[0].match.mcp.prompts[0]: must be a non-empty name",
            ),
            (
                r#"{"prefix": "/", "mcp": {"tool": ["x"]}}"#,
                "rules[0].match.mcp.tool: unknown field `tool`, expected one of",
            ),
        ];
        for (matcher, want) in cases {
            let got = refusal(matcher);
            assert!(got.contains(want), "{matcher}: {got}");
        }
        assert_eq!(
            refusal(
                r#"{"prefix": "/", "hosts": ["*.Example.com", "[::1]"], "headers": [{"name": ":authority", "present": true}, {"name": "x-env", "prefix": "prod", "invert": true}]}"#
            ),
            ""
        );
    }
}
