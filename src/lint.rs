//! Warnings about a configuration that compiles but probably does not do what its author
//! wants, for `authgate check`: rules that can never match, a `requires: "none"` rule that
//! opens a protected one, key set members skipped, slow bcrypt costs, credentials in query
//! strings. The filter itself never runs this; it only refuses what cannot work.

use crate::config::Config;
use crate::rules::{PathMatch, Requirement, Rule};

/// One warning: the JSON path it is about and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// Where, e.g. `rules[2]` or `providers.staff`.
    pub field: String,
    /// Why it is worth a look.
    pub message: String,
}

fn describe(r: &Rule) -> String {
    let path = match &r.path {
        PathMatch::Prefix(p) => format!("prefix {p}"),
        PathMatch::Exact(p) => format!("path {p}"),
    };
    if r.methods.is_empty() {
        path
    } else {
        format!("{path}, methods {}", r.methods.join(" "))
    }
}

/// Whether every request `later` applies to is one `earlier` applies to as well.
fn covers(earlier: &Rule, later: &Rule) -> bool {
    let methods = earlier.methods.is_empty()
        || (!later.methods.is_empty() && later.methods.iter().all(|m| earlier.methods.contains(m)));
    let path = match (&earlier.path, &later.path) {
        (PathMatch::Prefix(p), PathMatch::Prefix(q) | PathMatch::Exact(q)) => {
            q.starts_with(p.as_str())
        }
        (PathMatch::Exact(p), PathMatch::Exact(q)) => p == q,
        (PathMatch::Exact(_), PathMatch::Prefix(_)) => false,
    };
    // A host, header or MCP condition narrows the earlier rule: it covers only the same
    // conditions (a rule for one tool leaves every other call to the rules after it).
    let narrowed =
        !earlier.hosts.is_empty() || !earlier.headers.is_empty() || earlier.mcp.is_some();
    let same = earlier.hosts == later.hosts
        && earlier.headers == later.headers
        && earlier.mcp == later.mcp;
    methods && path && (!narrowed || same)
}

/// Every warning about `config`, rules first.
pub fn lint(config: &Config) -> Vec<Lint> {
    let mut out = Vec::new();
    // The implicit last rule ("default") is meant to be covered.
    let explicit: Vec<&Rule> = config
        .rules
        .iter()
        .filter(|r| r.label != "default")
        .collect();
    for (j, later) in explicit.iter().enumerate() {
        let Some(earlier) = explicit[..j].iter().find(|e| covers(e, later)) else {
            continue;
        };
        let open = earlier.requires == Requirement::None && later.requires != Requirement::None;
        let message = if open {
            format!(
                "is protected, but {} ({}) requires `none` and comes first: this route is open to anyone",
                earlier.label,
                describe(earlier)
            )
        } else {
            format!(
                "can never match: {} ({}) comes first and takes every request it would",
                earlier.label,
                describe(earlier)
            )
        };
        out.push(Lint {
            field: later.label.clone(),
            message,
        });
    }
    for p in &config.providers {
        let field = format!("providers.{}", p.name);
        for w in p.check.warnings() {
            out.push(Lint {
                field: field.clone(),
                message: w,
            });
        }
        if p.check.reads_query() {
            out.push(Lint {
                field,
                message: "reads credentials from the query string, which proxies and servers write to access logs; prefer a header".into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lints(json: &str) -> Vec<String> {
        let c = crate::config::compile(json.as_bytes(), [0; 32]).unwrap();
        lint(&c)
            .into_iter()
            .map(|l| format!("{}: {}", l.field, l.message))
            .collect()
    }

    #[test]
    fn shadowed_rules_open_routes_and_query_credentials() {
        let got = lints(
            r#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "k"}],
                                    "key_sources": [{"query": "api_key"}]}},
                "rules": [
                  {"match": {"prefix": "/public"}, "requires": "none"},
                  {"match": {"prefix": "/public/admin"}, "requires": "k"},
                  {"match": {"prefix": "/api", "methods": ["GET", "POST"]}, "requires": "k"},
                  {"match": {"path": "/api/v1", "methods": ["GET"]}, "requires": "k"},
                  {"match": {"path": "/api/v2"}, "requires": "k"},
                  {"match": {"prefix": "/mcp", "mcp": {"tools": ["delete_*"]}}, "requires": "k"},
                  {"match": {"prefix": "/mcp"}, "requires": "k"},
                  {"match": {"prefix": "/mcp/x", "mcp": {"tools": ["search"]}}, "requires": "k"}
                ]}"#,
        );
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(got[0]
            .starts_with("rules[1]: is protected, but rules[0] (prefix /public) requires `none`"));
        assert!(got[1]
            .starts_with("rules[3]: can never match: rules[2] (prefix /api, methods GET POST)"));
        // A rule for one tool covers no other call; a rule for all of /mcp covers every tool.
        assert!(got[2].starts_with("rules[7]: can never match: rules[6] (prefix /mcp)"));
        assert!(got[3].starts_with("providers.k: reads credentials from the query string"));
        assert!(
            !got.iter().any(|l| l.starts_with("rules[4]")),
            "all methods are not covered by GET POST"
        );
    }

    #[test]
    fn a_clean_configuration_has_no_warnings() {
        let got = lints(
            r#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "k"}]}},
                "rules": [{"match": {"prefix": "/admin"}, "requires": "k"},
                          {"match": {"prefix": "/"}, "requires": "none"}]}"#,
        );
        assert!(got.is_empty(), "{got:?}");
    }
}
