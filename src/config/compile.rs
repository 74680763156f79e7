//! Phase two of configuration: checks every field of a [`RawConfig`] and builds the
//! [`Config`] the engine runs on. Every refusal names the field and the reason.

use super::compile_rules::{challenges, compile_rule};
use super::protobuf_struct;
use super::raw::RawConfig;
use super::{AuditLevel, Config, Mode, NamedProvider};
use crate::crypto::HostSignatures;
use crate::error::ConfigError;
use crate::mcp::select::Kind;
use crate::providers::{registry, Env, Random, Setup};
use crate::reply::ResponseSettings;
use crate::resource::set::Resources;
use crate::rules::{PathMatch, Requirement, Rule};
use crate::schema::decode::Decode;
use crate::schema::fields;
use crate::throttle::Throttle;
use std::rc::Rc;

const DEFAULT_REALM: &str = "authgate";

/// Parses and validates the plugin configuration: JSON text (a `StringValue` in Envoy's
/// config), or a serialized `google.protobuf.Struct`, which Envoy passes as protobuf bytes.
/// `secret` keys the providers' per-worker caches.
pub fn compile(bytes: &[u8], secret: [u8; 32]) -> Result<Config, ConfigError> {
    compile_with(bytes, secret, None, crate::providers::NO_ENV, None)
}

/// [`compile`], with the host's own signature verification for providers that can use it, the
/// Wasm VM's environment (secrets named by `client_secret_env`) and the host's randomness.
pub fn compile_with(
    bytes: &[u8],
    secret: [u8; 32],
    signatures: Option<Rc<dyn HostSignatures>>,
    env: Env,
    random: Option<Random>,
) -> Result<Config, ConfigError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ConfigError::new(
            "",
            "the plugin configuration is empty; authgate needs at least `providers`",
        ));
    }
    // One typed pass over a JSON value whatever the form: a second deserializer for the
    // text would add ~50 KB to the module for the same result.
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        // JSON text never decodes as a Struct, so this only catches the Struct form.
        Err(json_error) => protobuf_struct::decode(bytes)
            .ok_or_else(|| ConfigError::new("", format!("not valid JSON: {json_error}")))?,
    };
    let raw = RawConfig::decode(&value, "")?;
    compile_raw(&raw, secret, signatures, env, random)
}

fn compile_raw(
    raw: &RawConfig,
    secret: [u8; 32],
    signatures: Option<Rc<dyn HostSignatures>>,
    env: Env,
    random: Option<Random>,
) -> Result<Config, ConfigError> {
    let realm = raw.realm.clone().unwrap_or_else(|| DEFAULT_REALM.into());
    if realm.is_empty() || realm.len() > 128 || !fields::is_plain_value(&realm) {
        return Err(ConfigError::new(
            "realm",
            "must be 1 to 128 visible ASCII characters without quotes or backslashes",
        ));
    }
    if raw.providers.is_empty() {
        return Err(ConfigError::new(
            "providers",
            "must name at least one provider",
        ));
    }
    let resource_ids: Vec<String> = match (&raw.resource, &raw.resources) {
        (Some(r), _) => vec![r.id.clone()],
        (None, Some(l)) => l.iter().map(|r| r.id.clone()).collect(),
        (None, None) => vec![],
    };
    let mut providers = Vec::with_capacity(raw.providers.len());
    for (name, p) in &raw.providers {
        if name == "none" || !fields::is_token(name) {
            return Err(ConfigError::new(
                format!("providers.{name}"),
                "a provider name must be a token (letters, digits, -_.) and not `none`",
            ));
        }
        let setup = Setup {
            name,
            secret,
            signatures: signatures.clone(),
            audiences: &resource_ids,
            env,
            random: random.clone(),
        };
        let check = registry::compile(&setup, p)?;
        providers.push(NamedProvider {
            name: name.clone(),
            check,
        });
    }
    let identity_headers = identity_headers(&providers)?;
    let resources = {
        let mut methods: Vec<&str> = Vec::new();
        for p in &providers {
            for m in p.check.bearer_methods() {
                if !methods.contains(&m) {
                    methods.push(m);
                }
            }
        }
        let bindings: Vec<&crate::binding::Binding> =
            providers.iter().filter_map(|p| p.check.binding()).collect();
        let members = crate::binding::metadata(&bindings);
        Resources::compile(
            raw.resource.as_ref(),
            raw.resources.as_deref(),
            &methods,
            &members,
        )?
    };

    let mut rules = Vec::new();
    match &raw.rules {
        Some(list) if list.is_empty() => {
            return Err(ConfigError::new(
                "rules",
                "must not be empty (omit it to require any provider everywhere)",
            ))
        }
        Some(list) => {
            for (i, r) in list.iter().enumerate() {
                let context = (providers.as_slice(), identity_headers.as_slice());
                rules.push(compile_rule(&format!("rules[{i}]"), r, context, &realm)?);
            }
        }
        None => {}
    }
    let mut resources = resources;
    super::compile_exchange::compile(raw, &providers, &mut rules, &mut resources, env)?;
    sign_in_paths_are_its_own(&providers, &rules)?;
    sign_ins_apart(&providers)?;
    let everyone: Vec<usize> = (0..providers.len()).collect();
    rules.push(Rule {
        label: "default".into(),
        path: PathMatch::Prefix(String::new()),
        methods: vec![],
        hosts: vec![],
        headers: vec![],
        challenges: challenges(&everyone, &providers, &realm),
        requires: Requirement::Any(everyone),
        allow_missing: false,
        scopes: vec![],
        conditions: vec![],
        identities: vec![],
        mcp: None,
        exchange: None,
        assertion: false,
    });

    let mode = match raw.mode.as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("report") => Mode::Report,
        Some(_) => {
            return Err(ConfigError::new(
                "mode",
                "must be \"enforce\" or \"report\"",
            ))
        }
    };
    let report_header = fields::header_to_set(
        "report_header",
        raw.report_header
            .as_deref()
            .unwrap_or("x-authgate-would-deny"),
    )?;
    let assertion = match &raw.assertion {
        Some(a) => Some(crate::assertion::Assertion::compile(
            a,
            env,
            random.clone(),
            signatures.as_deref(),
        )?),
        None => None,
    };
    for (i, r) in rules.iter().enumerate().filter(|(_, r)| r.assertion) {
        if assertion.is_none() {
            return Err(ConfigError::new(
                format!("rules[{i}].assertion"),
                "needs the top-level `assertion`: how it is signed and by whom",
            ));
        }
        if r.requires == Requirement::None {
            return Err(ConfigError::new(
                format!("rules[{i}].assertion"),
                "a rule that requires `none` has no one to assert",
            ));
        }
    }
    let mut identity_headers = identity_headers;
    // The assertion's header is removed from every request, like identity headers: a client's
    // own would otherwise reach an upstream that trusts it.
    if let Some(a) = &assertion {
        // A provider's identity header or the report header of that name would put an
        // unsigned value where the upstream expects a signed one.
        if identity_headers.contains(&a.header) || a.header == report_header {
            return Err(ConfigError::new(
                "assertion.header",
                format!("`{}` is a header authgate already sets upstream (a provider's, or `report_header`)", a.header),
            ));
        }
        identity_headers.push(a.header.clone());
    }
    // Stripped in every mode: an upstream that reads it must never see a client's forgery,
    // whichever mode an operator switches to.
    if !identity_headers.contains(&report_header) {
        identity_headers.push(report_header.clone());
    }
    let audit_level = match raw.audit_level.as_deref() {
        Some("debug") => AuditLevel::Debug,
        None | Some("info") => AuditLevel::Info,
        Some("warn") => AuditLevel::Warn,
        Some("error") => AuditLevel::Error,
        Some(_) => {
            return Err(ConfigError::new(
                "audit_level",
                "must be \"debug\", \"info\", \"warn\" or \"error\"",
            ))
        }
    };
    let audit_format = match raw.audit_format.as_deref() {
        None | Some("text") => super::AuditFormat::Text,
        Some("json") => super::AuditFormat::Json,
        Some(_) => {
            return Err(ConfigError::new(
                "audit_format",
                "must be \"text\" or \"json\"",
            ))
        }
    };
    let mcp_lists = mcp_lists(raw, &rules, mode)?;
    let reads_authority = !resources.is_empty()
        || assertion.is_some()
        || rules.iter().any(|r| !r.hosts.is_empty())
        || providers
            .iter()
            .any(|p| p.check.binding().is_some_and(|b| b.dpop.is_some()));
    let reads_path = resources.iter().count() > 1
        || rules
            .iter()
            .any(|r| !matches!(&r.path, PathMatch::Prefix(p) if p.is_empty() || p == "/"));
    Ok(Config {
        realm,
        providers,
        rules,
        allow_cors_preflight: raw.allow_cors_preflight.unwrap_or(true),
        identity_headers,
        mode,
        report_header,
        log_allowed: raw.log_allowed.unwrap_or(false),
        audit_level,
        audit_lines_per_second: raw.audit_lines_per_second.unwrap_or(100),
        audit_format,
        response: ResponseSettings::compile(raw.response.as_ref())?,
        resources,
        mcp_lists,
        mcp_show_step_up: raw
            .mcp
            .as_ref()
            .and_then(|m| m.show_step_up)
            .unwrap_or(false),
        scope_hierarchy: crate::scopes::ScopeHierarchy::compile(raw.scope_hierarchy.as_ref())?,
        throttle: match &raw.throttle {
            Some(t) => Some(Throttle::compile(t.max_failures, t.window_seconds)?),
            None => None,
        },
        reads_authority,
        reads_path,
        assertion,
    })
}

/// `mcp.filter_lists` (default: on when a rule has `match.mcp`): the kinds of list some rule
/// concerns. Report mode refuses nothing, so it hides nothing either.
fn mcp_lists(raw: &RawConfig, rules: &[Rule], mode: Mode) -> Result<Vec<Kind>, ConfigError> {
    let with_mcp: Vec<&crate::mcp::select::McpMatch> =
        rules.iter().filter_map(|r| r.mcp.as_ref()).collect();
    let on = match raw.mcp.as_ref().and_then(|m| m.filter_lists) {
        Some(true) if with_mcp.is_empty() => {
            return Err(ConfigError::new(
                "mcp.filter_lists",
                "lists are cut by the rules with `match.mcp`, and no rule has one",
            ))
        }
        Some(on) => on,
        None => !with_mcp.is_empty(),
    };
    if !on || mode == Mode::Report {
        return Ok(vec![]);
    }
    Ok([Kind::Tool, Kind::Prompt, Kind::Resource]
        .into_iter()
        .filter(|k| with_mcp.iter().any(|m| m.concerns(*k)))
        .collect())
}

/// Headers set for upstream; each must not be a header a credential is read from, or the
/// filter would strip the credential before reading it.
fn identity_headers(providers: &[NamedProvider]) -> Result<Vec<String>, ConfigError> {
    let mut read: Vec<&str> = vec!["authorization"];
    let mut set: Vec<(String, String)> = Vec::new();
    for p in providers {
        read.extend(p.check.headers_read());
        for (field, h) in p.check.headers_set() {
            set.push((format!("providers.{}.{field}", p.name), h.to_string()));
        }
    }
    let mut out: Vec<String> = Vec::new();
    for (field, h) in set {
        if read.contains(&h.as_str()) {
            return Err(ConfigError::new(
                field,
                format!("`{h}` is read as a credential and cannot also be set for upstream"),
            ));
        }
        if !out.contains(&h) {
            out.push(h);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

/// Two sign-in providers with one cookie would each read the other's sessions as theirs (and
/// with one path, the first would answer the other's callbacks): refused at load.
fn sign_ins_apart(providers: &[NamedProvider]) -> Result<(), ConfigError> {
    // Whether cookie `a` or one of its chunks or its `-login` cookie is named like `b`'s.
    let overlaps = |a: &str, b: &str| {
        a == b
            || [a, b].iter().zip([b, a]).any(|(x, y)| {
                y.strip_prefix(*x).is_some_and(|rest| {
                    rest == "-login"
                        || rest
                            .strip_prefix('.')
                            .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
                        || rest.starts_with("-login.")
                })
            })
    };
    let sign_ins: Vec<(&str, &crate::providers::oidc::provider::OidcProvider)> = providers
        .iter()
        .filter_map(|p| Some((p.name.as_str(), p.check.sign_in()?)))
        .collect();
    for (j, (name, o)) in sign_ins.iter().enumerate() {
        for (other, earlier) in &sign_ins[..j] {
            if overlaps(o.cookie(), earlier.cookie()) {
                return Err(ConfigError::new(
                    format!("providers.{name}.cookie.name"),
                    format!(
                        "`{}` is also the session cookie of sign-in provider `{other}` (`{}`): each sign-in needs a cookie of its own",
                        o.cookie(),
                        earlier.cookie()
                    ),
                ));
            }
            for (field, path) in o.paths() {
                if earlier.answers(path) {
                    return Err(ConfigError::new(
                        format!("providers.{name}.{field}"),
                        format!("{path} is also a path of sign-in provider `{other}`: each sign-in needs paths of its own"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A sign-in provider answers its own paths before any rule; a rule that would protect one of
/// them with another provider is refused, so that no one reads the rule as if it applied.
fn sign_in_paths_are_its_own(
    providers: &[NamedProvider],
    rules: &[Rule],
) -> Result<(), ConfigError> {
    for (i, p) in providers.iter().enumerate() {
        let Some(o) = p.check.sign_in() else { continue };
        for (field, path) in o.paths() {
            let view = crate::request::HeaderList::new("GET", path, &[]);
            let req = crate::request::Request::new(&view);
            let rule = rules.iter().find(|r| r.matches(&req, "GET", path));
            let accepts = rule.is_some_and(|r| match &r.requires {
                Requirement::Any(list) | Requirement::All(list) => list.contains(&i),
                // Open to everyone: nothing is claimed to protect it.
                Requirement::None => true,
            });
            if let (Some(r), false) = (rule, accepts) {
                return Err(ConfigError::new(
                    format!("providers.{}.{field}", p.name),
                    format!(
                        "{} matches {path} and does not require `{}`; the sign-in answers {path} itself, before any rule: choose another path, or let the rule require `{}`",
                        r.label, p.name, p.name
                    ),
                ));
            }
        }
    }
    Ok(())
}
