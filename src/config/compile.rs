//! Phase two of configuration: checks every field of a [`RawConfig`] and builds the
//! [`Config`] the engine runs on. Every refusal names the field and the reason.

use super::fields;
use super::protobuf_struct;
use super::raw::{RawConfig, RawProvider, RawRule};
use super::{AuditLevel, Check, Config, Mode, Provider};
use crate::error::ConfigError;
use crate::providers::api_key::{ApiKeyProvider, KeySource};
use crate::providers::basic::BasicProvider;
use crate::providers::jwt::extractor::TokenSource;
use crate::providers::jwt::JwtProvider;
use crate::reply::Challenge;
use crate::reply::ResponseSettings;
use crate::rules::{PathMatch, Requirement, Rule};
use crate::throttle::Throttle;
use serde_json::Value;

const DEFAULT_REALM: &str = "authgate";

/// Parses and validates the plugin configuration: JSON text (a `StringValue` in Envoy's
/// config), or a serialized `google.protobuf.Struct`, which Envoy passes as protobuf bytes.
pub fn compile(bytes: &[u8]) -> Result<Config, ConfigError> {
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
    let raw: RawConfig =
        serde_path_to_error::deserialize(value).map_err(|e| path_error(e.path(), e.inner()))?;
    compile_raw(&raw)
}

fn path_error(path: &serde_path_to_error::Path, e: &impl std::fmt::Display) -> ConfigError {
    let path = path.to_string();
    let path = if path == "." || path == "?" {
        String::new()
    } else {
        path
    };
    ConfigError::new(path, e.to_string())
}

fn compile_raw(raw: &RawConfig) -> Result<Config, ConfigError> {
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
    let mut providers = Vec::with_capacity(raw.providers.len());
    for (name, p) in &raw.providers {
        if name == "none" || !fields::is_token(name) {
            return Err(ConfigError::new(
                format!("providers.{name}"),
                "a provider name must be a token (letters, digits, -_.) and not `none`",
            ));
        }
        let check = match RawProvider::parse(name, p)? {
            RawProvider::Basic(b) => Check::Basic(BasicProvider::compile(name, &b)?),
            RawProvider::ApiKey(k) => Check::ApiKey(ApiKeyProvider::compile(name, &k)?),
            RawProvider::Jwt(j) => Check::Jwt(Box::new(JwtProvider::compile(name, &j)?)),
        };
        providers.push(Provider {
            name: name.clone(),
            check,
        });
    }
    let identity_headers = identity_headers(&providers)?;

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
                rules.push(compile_rule(&format!("rules[{i}]"), r, &providers, &realm)?);
            }
        }
        None => {}
    }
    let everyone: Vec<usize> = (0..providers.len()).collect();
    rules.push(Rule {
        label: "default".into(),
        path: PathMatch::Prefix(String::new()),
        methods: vec![],
        challenges: challenges(&everyone, &providers, &realm),
        requires: Requirement::Any(everyone),
        allow_missing: false,
        scopes: vec![],
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
    let mut identity_headers = identity_headers;
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
        response: ResponseSettings::compile(raw.response.as_ref())?,
        throttle: match &raw.throttle {
            Some(t) => Some(Throttle::compile(t.max_failures, t.window_seconds)?),
            None => None,
        },
    })
}

/// Headers set for upstream; each must not be a header a credential is read from, or the
/// filter would strip the credential before reading it.
fn identity_headers(providers: &[Provider]) -> Result<Vec<String>, ConfigError> {
    let mut read: Vec<&str> = vec!["authorization"];
    let mut set: Vec<(String, String)> = Vec::new();
    for p in providers {
        match &p.check {
            Check::Basic(b) => {
                if let Some(h) = &b.forward_username_header {
                    set.push((
                        format!("providers.{}.forward_username_header", p.name),
                        h.clone(),
                    ));
                }
            }
            Check::ApiKey(k) => {
                for s in &k.sources {
                    if let KeySource::Header(h) = s {
                        read.push(h);
                    }
                }
                if let Some(h) = &k.forward_client_header {
                    set.push((
                        format!("providers.{}.forward_client_header", p.name),
                        h.clone(),
                    ));
                }
            }
            Check::Jwt(j) => {
                for s in &j.sources {
                    if let TokenSource::Header(h, _) = s {
                        read.push(h);
                    }
                }
                for h in j.identity_headers() {
                    set.push((format!("providers.{}", p.name), h.clone()));
                }
            }
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

fn compile_rule(
    field: &str,
    raw: &RawRule,
    providers: &[Provider],
    realm: &str,
) -> Result<Rule, ConfigError> {
    let m = &raw.matcher;
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
                Requirement::Any(l) | Requirement::All(l) => l
                    .iter()
                    .any(|&i| matches!(providers[i].check, Check::Jwt(_))),
                Requirement::None => false,
            };
            if !has_jwt {
                return Err(ConfigError::new(
                    format!("{field}.scopes"),
                    "scopes are checked on JWTs, and no `jwt` provider is in `requires`",
                ));
            }
            if list.is_empty() {
                return Err(ConfigError::new(
                    format!("{field}.scopes"),
                    "must not be empty",
                ));
            }
            for (j, s) in list.iter().enumerate() {
                // RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E.
                let ok =
                    |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
                if s.is_empty() || !s.bytes().all(ok) {
                    return Err(ConfigError::new(
                        format!("{field}.scopes[{j}]"),
                        "is not a valid scope token",
                    ));
                }
            }
            list.clone()
        }
    };
    let challenges = match &requires {
        Requirement::None => vec![],
        Requirement::Any(list) | Requirement::All(list) => challenges(list, providers, realm),
    };
    Ok(Rule {
        label: field.to_string(),
        path,
        methods,
        requires,
        allow_missing,
        scopes,
        challenges,
    })
}

fn compile_requires(
    field: &str,
    value: &Value,
    providers: &[Provider],
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

fn challenges(list: &[usize], providers: &[Provider], realm: &str) -> Vec<Challenge> {
    list.iter()
        .filter_map(|&i| providers.get(i))
        .map(|p| match &p.check {
            Check::Basic(_) => Challenge::basic(realm),
            Check::Jwt(_) => Challenge::bearer(realm),
            Check::ApiKey(k) => match k.sources.first() {
                Some(KeySource::Query(n)) => Challenge::api_key(realm, "query", n),
                Some(KeySource::Cookie(n)) => Challenge::api_key(realm, "cookie", n),
                Some(KeySource::Header(n)) => Challenge::api_key(realm, "header", n),
                None => Challenge::api_key(realm, "header", "x-api-key"),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = r#""k": {"type": "api_key", "credentials": [{"client": "c", "key": "s"}]}"#;

    /// Secrets never reach debug output, raw or compiled (hashes included).
    #[test]
    fn debug_output_holds_no_secret() {
        let json = serde_json::json!({"providers": {
            "b": {"type": "basic", "htpasswd": "alice:$2y$04$8TA3sJd/j/Ip41SKWn5JLewU5TrFEw6KPSpvQfnR9wc9r6wIcqQsm\nbob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="},
            "k": {"type": "api_key", "credentials": [{"client": "c", "key": "key-sekrit-1"}]},
            "j": {"type": "jwt", "local_jwks": {"keys": [{"kty": "oct", "k": "c2VrcmV0LXNla3JldC1zZWtyZXQtc2VrcmV0LXNla3JldA"}]}}
        }});
        let bytes = json.to_string();
        let raw: RawConfig = serde_json::from_str(&bytes).unwrap();
        let parsed: Vec<RawProvider> = raw
            .providers
            .iter()
            .map(|(n, v)| RawProvider::parse(n, v).unwrap())
            .collect();
        let config = compile(bytes.as_bytes()).unwrap();
        let k_digest: String = {
            use sha2::{Digest, Sha256};
            Sha256::digest(b"key-sekrit-1")
                .iter()
                .map(|b| format!("{b}, "))
                .collect()
        };
        for text in [format!("{parsed:?}"), format!("{config:?}")] {
            for secret in [
                "8TA3sJd",
                "5en6G6",
                "key-sekrit-1",
                "c2VrcmV0",
                k_digest.trim_end_matches(", "),
            ] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let cases: &[(&str, String, &str)] = &[
            ("empty document", String::new(), ""),
            ("not json", "{".into(), ""),
            ("unknown top-level field", format!(r#"{{"providers": {{{KEY}}}, "realms": "x"}}"#), "realms"),
            ("unknown provider field", r#"{"providers": {"k": {"type": "api_key", "credentials": [], "keys": 1}}}"#.into(), "providers.k.keys"),
            ("unknown type", r#"{"providers": {"k": {"type": "digest"}}}"#.into(), "providers.k.type"),
            ("provider typo", r#"{"providers": {"p": {"type": "api_key", "credentials": [{"client": "c", "kye": "s"}]}}}"#.into(), "providers.p.credentials[0].kye"),
            ("nested provider typo", r#"{"providers": {"j": {"type": "jwt", "remote_jwks": {"uri": "http://a/k", "cluster": "c", "timeout": 1}}}}"#.into(), "providers.j.remote_jwks.timeout"),
            ("provider field of the wrong type", r#"{"providers": {"b": {"type": "basic", "htpasswd": 1}}}"#.into(), "providers.b.htpasswd"),
            ("provider without type", r#"{"providers": {"b": {"htpasswd": "u:{SHA}x"}}}"#.into(), "providers.b"),
            ("provider not an object", r#"{"providers": {"b": "basic"}}"#.into(), "providers.b"),
            ("no providers", r#"{"providers": {}}"#.into(), "providers"),
            ("provider named none", r#"{"providers": {"none": {"type": "api_key", "credentials": [{"client": "c", "key": "s"}]}}}"#.into(), "providers.none"),
            ("plain-text password", r#"{"providers": {"b": {"type": "basic", "htpasswd": "u:pw"}}}"#.into(), "providers.b.htpasswd"),
            ("jwt without keys", r#"{"providers": {"j": {"type": "jwt", "issuer": "x"}}}"#.into(), "providers.j"),
            ("bad realm", format!(r#"{{"realm": "a\"b", "providers": {{{KEY}}}}}"#), "realm"),
            ("empty rules", format!(r#"{{"providers": {{{KEY}}}, "rules": []}}"#), "rules"),
            ("unknown provider in rule", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": "x"}}]}}"#), "rules[0].requires"),
            ("empty any", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": {{"any": []}}}}]}}"#), "rules[0].requires.any"),
            ("any and all", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": {{"any": ["k"], "all": ["k"]}}}}]}}"#), "rules[0].requires"),
            ("requires typo", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": {{"one": ["k"]}}}}]}}"#), "rules[0].requires"),
            ("requires number", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": 1}}]}}"#), "rules[0].requires"),
            ("prefix and path", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/", "path": "/a"}}, "requires": "k"}}]}}"#), "rules[0].match"),
            ("relative prefix", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "a"}}, "requires": "k"}}]}}"#), "rules[0].match"),
            ("lower-case method", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/", "methods": ["get"]}}, "requires": "k"}}]}}"#), "rules[0].match.methods[0]"),
            ("scopes without jwt", format!(r#"{{"providers": {{{KEY}}}, "rules": [{{"match": {{"prefix": "/"}}, "requires": "k", "scopes": ["a"]}}]}}"#), "rules[0].scopes"),
            ("forward header is a credential header", r#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "s"}], "forward_client_header": "x-api-key"}}}"#.into(), "providers.k.forward_client_header"),
        ];
        for (name, json, field) in cases {
            let err = compile(json.as_bytes()).map(|_| ()).unwrap_err();
            assert_eq!(err.field, *field, "{name}: {err}");
            assert!(
                !err.to_string().contains('\n'),
                "{name}: one line please: {err}"
            );
            assert!(
                !err.to_string().contains("pw"),
                "{name}: echoes a secret: {err}"
            );
        }
    }

    #[test]
    fn contract_example_without_jwt_compiles() {
        let json = r#"{
          "realm": "api",
          "providers": {
            "staff": { "type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
                       "forward_username_header": "x-auth-user" },
            "partners": { "type": "api_key",
                          "credentials": [ { "client": "acme", "key": "k-1" },
                                           { "client": "globex", "key_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" } ],
                          "key_sources": [ { "header": "x-api-key" }, { "query": "api_key" }, { "cookie": "api_key" } ],
                          "forward_client_header": "x-auth-client" }
          },
          "rules": [
            { "match": { "prefix": "/healthz" }, "requires": "none" },
            { "match": { "prefix": "/admin", "methods": ["POST", "DELETE"] }, "requires": { "all": ["staff", "partners"] } },
            { "match": { "path": "/public/feed" }, "requires": { "any": ["partners"], "allow_missing": true } },
            { "match": { "prefix": "/" }, "requires": { "any": ["partners", "staff"] } }
          ],
          "allow_cors_preflight": true
        }"#;
        let c = compile(json.as_bytes()).unwrap();
        assert_eq!(c.rules.len(), 5);
        assert_eq!(
            c.identity_headers,
            ["x-auth-client", "x-auth-user", "x-authgate-would-deny"]
        );
    }
}
