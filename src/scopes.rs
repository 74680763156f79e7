//! Whether the scopes a token holds satisfy the scopes a rule requires, with the optional
//! `scope_hierarchy` (MCP 2026-07-28: "a broader scope implies narrower ones"; the
//! specification leaves the hierarchy to the server, so it is configured, never guessed):
//! `implies` lists what a scope implies (followed transitively), `separator` makes `files`
//! imply every `files<separator>...`.

use crate::error::ConfigError;
use crate::schema::decode::raw_struct;
use crate::schema::fields::is_scope_token;
use serde_json::Value;
use std::collections::BTreeMap;

raw_struct! {
    /// Top-level `scope_hierarchy`: broader scopes that imply narrower ones (MCP 2026-07-28).
    #[derive(Debug)]
    pub struct RawScopeHierarchy {
        /// A held scope implies each listed one (and what those imply in turn): scope to a
        /// list of scopes, read by [`crate::scopes`] (a map of lists here would be one more
        /// generic reader in the module for one field).
        pub implies: Option<BTreeMap<String, Value>>,
        /// A held scope `s` implies every `s<separator>...` (`files` implies `files:read`).
        pub separator: Option<String>,
    }
}

/// A compiled `scope_hierarchy`; the default implies nothing.
#[derive(Debug, Clone, Default)]
pub struct ScopeHierarchy {
    /// Each scope with what it implies directly; followed transitively when checked.
    implies: Vec<(String, Vec<String>)>,
    /// `files` implies `files<separator>read`.
    separator: Option<String>,
}

impl ScopeHierarchy {
    /// Validates `scope_hierarchy`.
    pub fn compile(raw: Option<&RawScopeHierarchy>) -> Result<Self, ConfigError> {
        let Some(raw) = raw else {
            return Ok(Self::default());
        };
        let separator = match raw.separator.as_deref() {
            None => None,
            Some(s) if is_scope_token(s) => Some(s.to_string()),
            Some(_) => {
                return Err(ConfigError::new(
                    "scope_hierarchy.separator",
                    "must be non-empty and made of scope characters (such as `:` or `.`)",
                ))
            }
        };
        let mut implies = Vec::new();
        for (k, v) in raw.implies.iter().flatten() {
            let at = format!("scope_hierarchy.implies.{k}");
            if !is_scope_token(k) {
                return Err(ConfigError::new(at, "is not a valid scope token"));
            }
            let list = v
                .as_array()
                .ok_or_else(|| ConfigError::new(at.clone(), "must be a list of scopes"))?;
            let mut scopes = Vec::with_capacity(list.len());
            for (i, s) in list.iter().enumerate() {
                match s.as_str() {
                    Some(s) if is_scope_token(s) => scopes.push(s.to_string()),
                    _ => {
                        return Err(ConfigError::new(
                            format!("{at}[{i}]"),
                            "is not a valid scope token",
                        ))
                    }
                }
            }
            implies.push((k.clone(), scopes));
        }
        Ok(ScopeHierarchy { implies, separator })
    }

    /// Whether holding `held` satisfies `wanted`: one held scope is it, is broader by the
    /// separator, or implies (through any chain of `implies`) a scope that is or is broader.
    pub fn satisfies(&self, held: &[String], wanted: &str) -> bool {
        let broader = |h: &str| {
            h == wanted
                || self.separator.as_deref().is_some_and(|sep| {
                    wanted
                        .strip_prefix(h)
                        .is_some_and(|rest| rest.starts_with(sep))
                })
        };
        if self.implies.is_empty() {
            return held.iter().any(|h| broader(h));
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut todo: Vec<&str> = held.iter().map(String::as_str).collect();
        while let Some(h) = todo.pop() {
            if seen.contains(&h) {
                continue;
            }
            if broader(h) {
                return true;
            }
            seen.push(h);
            if let Some((_, more)) = self.implies.iter().find(|(k, _)| k == h) {
                todo.extend(more.iter().map(String::as_str));
            }
        }
        false
    }

    /// Whether `held` satisfies every one of `required`.
    pub fn satisfies_all(&self, held: &[String], required: &[String]) -> bool {
        required.iter().all(|r| self.satisfies(held, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hierarchy(implies: &[(&str, &[&str])], separator: Option<&str>) -> ScopeHierarchy {
        let raw = RawScopeHierarchy {
            implies: Some(
                implies
                    .iter()
                    .map(|(k, l)| (k.to_string(), serde_json::json!(l)))
                    .collect(),
            ),
            separator: separator.map(Into::into),
        };
        ScopeHierarchy::compile(Some(&raw)).unwrap()
    }

    #[test]
    fn what_a_held_scope_satisfies() {
        let none = ScopeHierarchy::default();
        let h = hierarchy(
            &[
                ("admin", &["files", "db:write"]),
                ("db:write", &["db:read"]),
            ],
            Some(":"),
        );
        for (name, rules, held, wanted, want) in [
            (
                "no hierarchy: exactly",
                &none,
                "files:read",
                "files:read",
                true,
            ),
            (
                "no hierarchy: nothing implied",
                &none,
                "files",
                "files:read",
                false,
            ),
            ("separator", &h, "files", "files:read", true),
            ("separator, deeper", &h, "files", "files:read:all", true),
            ("separator is whole", &h, "files", "filesystem", false),
            (
                "narrower does not imply broader",
                &h,
                "files:read",
                "files",
                false,
            ),
            ("implies", &h, "admin", "files", true),
            (
                "implies, then the separator",
                &h,
                "admin",
                "files:write",
                true,
            ),
            ("implies, transitively", &h, "admin", "db:read", true),
            (
                "implies only what is listed",
                &h,
                "db:write",
                "files",
                false,
            ),
        ] {
            let held = vec![held.to_string()];
            assert_eq!(rules.satisfies(&held, wanted), want, "{name}");
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let bad = |implies: Option<std::collections::BTreeMap<String, serde_json::Value>>,
                   separator: Option<&str>| {
            let raw = RawScopeHierarchy {
                implies,
                separator: separator.map(Into::into),
            };
            ScopeHierarchy::compile(Some(&raw)).unwrap_err().field
        };
        assert_eq!(bad(None, Some("")), "scope_hierarchy.separator");
        let mut m = std::collections::BTreeMap::new();
        m.insert("admin".to_string(), serde_json::json!(["ok", "a b"]));
        assert_eq!(
            bad(Some(m.clone()), None),
            "scope_hierarchy.implies.admin[1]"
        );
        m.insert("admin".to_string(), serde_json::json!("ok"));
        assert_eq!(bad(Some(m), None), "scope_hierarchy.implies.admin");
    }
}
