//! Compiled rules: which requests a rule applies to and what it requires.

use crate::reply::Challenge;

/// How a rule matches the path (without its query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// String prefix, as Envoy's route `prefix`.
    Prefix(String),
    /// Exact path, as Envoy's route `path`.
    Exact(String),
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
}

impl Rule {
    /// Whether the rule applies to `method` on `path` (query already removed).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let path_ok = match &self.path {
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
            PathMatch::Exact(p) => path == p,
        };
        path_ok && (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
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
            requires: Requirement::None,
            allow_missing: false,
            scopes: vec![],
            conditions: vec![],
            identities: vec![],
            challenges: vec![],
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
        for (name, r, method, path, want) in cases {
            assert_eq!(r.matches(method, path), want, "{name}");
        }
    }
}
