//! Phase two for `rules[]`: each rule's match, requirement and scopes checked against the
//! providers, its challenges built. Every refusal names its field.

use super::raw::RawRule;
use super::NamedProvider;
use crate::conditions::Condition;
use crate::error::ConfigError;
use crate::reply::Challenge;
use crate::rules::{PathMatch, Requirement, Rule};
use crate::schema::fields;
use serde_json::Value;

pub(super) fn compile_rule(
    field: &str,
    raw: &RawRule,
    (providers, set_upstream): (&[NamedProvider], &[String]),
    realm: &str,
) -> Result<Rule, ConfigError> {
    let m = &raw.matcher;
    let hosts = super::compile_match::hosts(field, m)?;
    let headers = super::compile_match::headers(field, m, set_upstream)?;
    let mcp = super::compile_match::mcp(field, m)?;
    let path = match (&m.prefix, &m.path) {
        (Some(p), None) => PathMatch::Prefix(p.clone()),
        (None, Some(p)) => PathMatch::Exact(p.clone()),
        _ => {
            return Err(ConfigError::new(
                format!("{field}.match"),
                "needs exactly one of `prefix` and `path`",
            ))
        }
    };
    let (PathMatch::Prefix(p) | PathMatch::Exact(p)) = &path;
    if !p.starts_with('/') {
        return Err(ConfigError::new(
            format!("{field}.match"),
            "`prefix` and `path` must start with `/`",
        ));
    }
    // Requests are matched in their normal form: a rule written otherwise would never match.
    let which = if m.prefix.is_some() { "prefix" } else { "path" };
    match crate::path::normal(p) {
        Ok(n) if n.path == p.as_str() => {}
        Ok(n) => {
            return Err(ConfigError::new(
                format!("{field}.match.{which}"),
                format!(
                    "requests are matched in their normal form, which `{p}` is not: write `{}`",
                    n.path
                ),
            ))
        }
        Err(why) => {
            return Err(ConfigError::new(
                format!("{field}.match.{which}"),
                format!("no request path matches it: {why}"),
            ))
        }
    }
    let methods = match &m.methods {
        None => vec![],
        Some(list) if list.is_empty() => {
            return Err(ConfigError::new(
                format!("{field}.match.methods"),
                "must not be empty (omit it to match every method)",
            ))
        }
        Some(list) => {
            for (j, method) in list.iter().enumerate() {
                if !fields::is_token(method) || method.bytes().any(|b| b.is_ascii_lowercase()) {
                    return Err(ConfigError::new(
                        format!("{field}.match.methods[{j}]"),
                        "must be an upper-case method token such as GET (methods are case-sensitive)",
                    ));
                }
            }
            list.clone()
        }
    };
    let (requires, allow_missing) =
        compile_requires(&format!("{field}.requires"), &raw.requires, providers)?;
    let scopes = match &raw.scopes {
        None => vec![],
        Some(_) if requires == Requirement::None => {
            return Err(ConfigError::new(
                format!("{field}.scopes"),
                "a rule that requires `none` cannot require scopes",
            ))
        }
        Some(list) => {
            let has_jwt = match &requires {
                Requirement::Any(l) | Requirement::All(l) => {
                    l.iter().any(|&i| providers[i].check.has_scopes())
                }
                Requirement::None => false,
            };
            if !has_jwt {
                return Err(ConfigError::new(
                    format!("{field}.scopes"),
                    "scopes are checked on tokens, and no `jwt` or `introspection` provider is in `requires`",
                ));
            }
            if list.is_empty() {
                return Err(ConfigError::new(
                    format!("{field}.scopes"),
                    "must not be empty",
                ));
            }
            for (j, s) in list.iter().enumerate() {
                if !fields::is_scope_token(s) {
                    return Err(ConfigError::new(
                        format!("{field}.scopes[{j}]"),
                        "is not a valid scope token",
                    ));
                }
            }
            list.clone()
        }
    };
    let (conditions, identities) = compile_access(field, raw, &requires, providers)?;
    let challenges = match &requires {
        Requirement::None => vec![],
        Requirement::Any(list) | Requirement::All(list) => challenges(list, providers, realm),
    };
    Ok(Rule {
        label: field.to_string(),
        path,
        methods,
        hosts,
        headers,
        requires,
        allow_missing,
        scopes,
        conditions,
        identities,
        challenges,
        mcp,
        exchange: None,
        assertion: raw.assertion.unwrap_or(false),
    })
}

fn compile_requires(
    field: &str,
    value: &Value,
    providers: &[NamedProvider],
) -> Result<(Requirement, bool), ConfigError> {
    let lookup = |f: &str, name: &Value| -> Result<usize, ConfigError> {
        let name = name
            .as_str()
            .ok_or_else(|| ConfigError::new(f, "must be a provider name"))?;
        providers
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| ConfigError::new(f, format!("no provider is named `{name}`")))
    };
    match value {
        Value::String(s) if s == "none" => Ok((Requirement::None, false)),
        Value::String(_) => Ok((Requirement::Any(vec![lookup(field, value)?]), false)),
        Value::Object(map) => {
            let mut kind = None;
            let mut allow_missing = false;
            for (k, v) in map {
                match k.as_str() {
                    "any" | "all" => {
                        if kind.is_some() {
                            return Err(ConfigError::new(
                                field,
                                "needs exactly one of `any` and `all`",
                            ));
                        }
                        kind = Some((k.as_str(), v));
                    }
                    "allow_missing" => {
                        allow_missing = v.as_bool().ok_or_else(|| {
                            ConfigError::new(
                                format!("{field}.allow_missing"),
                                "must be true or false",
                            )
                        })?
                    }
                    other => {
                        return Err(ConfigError::new(
                            field,
                            format!(
                                "unknown field `{other}`, expected `any`, `all` or `allow_missing`"
                            ),
                        ))
                    }
                }
            }
            let Some((kind, list)) = kind else {
                return Err(ConfigError::new(
                    field,
                    "needs exactly one of `any` and `all`",
                ));
            };
            let f = format!("{field}.{kind}");
            let list = list.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
                ConfigError::new(&f, "must be a non-empty list of provider names")
            })?;
            let mut idx = Vec::with_capacity(list.len());
            for (j, name) in list.iter().enumerate() {
                let i = lookup(&format!("{f}[{j}]"), name)?;
                if idx.contains(&i) {
                    return Err(ConfigError::new(
                        format!("{f}[{j}]"),
                        "names a provider twice",
                    ));
                }
                idx.push(i);
            }
            Ok((
                if kind == "any" {
                    Requirement::Any(idx)
                } else {
                    Requirement::All(idx)
                },
                allow_missing,
            ))
        }
        _ => Err(ConfigError::new(
            field,
            "must be a provider name, \"none\", {\"any\": [...]} or {\"all\": [...]}",
        )),
    }
}

pub(super) fn challenges(
    list: &[usize],
    providers: &[NamedProvider],
    realm: &str,
) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::with_capacity(list.len());
    // Two token providers (a `jwt` and an `introspection` one) take the same `Bearer`: it is
    // advertised, and listed in `accepted`, once.
    for c in list
        .iter()
        .filter_map(|&i| providers.get(i))
        .flat_map(|p| p.check.challenges(realm))
    {
        if !out.iter().any(|o| o.base == c.base) {
            out.push(c);
        }
    }
    out
}

/// A rule's `claims` and `identities`.
fn compile_access(
    field: &str,
    raw: &RawRule,
    requires: &Requirement,
    providers: &[NamedProvider],
) -> Result<(Vec<Condition>, Vec<String>), ConfigError> {
    let list: &[usize] = match requires {
        Requirement::Any(l) | Requirement::All(l) => l,
        Requirement::None => &[],
    };
    let mut conditions = Vec::new();
    if let Some(claims) = &raw.claims {
        if !list.iter().any(|&i| providers[i].check.has_claims()) {
            return Err(ConfigError::new(
                format!("{field}.claims"),
                "claims are tested on tokens, and no provider in `requires` carries claims",
            ));
        }
        if claims.is_empty() {
            return Err(ConfigError::new(
                format!("{field}.claims"),
                "must not be empty",
            ));
        }
        for (j, c) in claims.iter().enumerate() {
            conditions.push(Condition::compile(&format!("{field}.claims[{j}]"), c)?);
        }
    }
    let identities = match &raw.identities {
        None => vec![],
        Some(_) if list.is_empty() => {
            return Err(ConfigError::new(
                format!("{field}.identities"),
                "a rule that requires `none` authenticates nobody",
            ))
        }
        Some(ids) if ids.is_empty() || ids.iter().any(String::is_empty) => {
            return Err(ConfigError::new(
                format!("{field}.identities"),
                "must be a non-empty list of user names, API clients or token subjects",
            ))
        }
        Some(ids) => ids.clone(),
    };
    Ok((conditions, identities))
}
