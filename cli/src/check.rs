//! `authgate check FILE...`: every configuration compiled exactly as the filter compiles it
//! (a refusal is the filter's own log line), then the warnings of [`authgate::lint`], and a
//! `realm` that differs between the filters of one file.

use crate::source;
use authgate::crypto::HostSignatures;
use serde_json::{json, Value};
use std::rc::Rc;

/// Compiling as Envoy 1.40 would: its `verify_signature` takes ES256/384/512 and RS*, so the
/// keys it verifies are loaded as they would be there. `check` verifies nothing.
struct EnvoySignatures;

impl HostSignatures for EnvoySignatures {
    fn verify(&self, _: &str, _: &[u8], _: &[u8], _: &[u8]) -> bool {
        false
    }
}

/// One file's findings.
struct Report {
    label: String,
    refusal: Option<String>,
    warnings: Vec<(String, String)>,
    realm: Option<String>,
}

fn check_one(found: &source::Found) -> Report {
    let env = |name: &str| found.var(name);
    let signatures: Option<Rc<dyn HostSignatures>> = Some(Rc::new(EnvoySignatures));
    match authgate::config::compile_with(
        &found.config,
        [0; 32],
        signatures,
        &env,
        Some(crate::random()),
    ) {
        Ok(config) => Report {
            label: found.label.clone(),
            refusal: None,
            warnings: authgate::lint::lint(&config)
                .into_iter()
                .map(|l| (l.field, l.message))
                .chain(body_phase(found, &config))
                .chain(path_normalisation(found, &config))
                .collect(),
            realm: Some(config.realm.clone()),
        },
        Err(e) => Report {
            label: found.label.clone(),
            refusal: Some(e.to_string()),
            warnings: vec![],
            realm: None,
        },
    }
}

/// A rule that reads bodies (`match.mcp`) in a filter that will never be handed one.
fn body_phase(
    found: &source::Found,
    config: &authgate::config::Config,
) -> Option<(String, String)> {
    use source::BodyPhase;
    let i = config.rules.iter().position(|r| r.mcp.is_some())?;
    let why = match found.body_phase {
        BodyPhase::CannotBeSet => {
            "reads the request body, which needs Envoy's `allow_on_headers_stop_iteration: true` on the Wasm filter, and an Istio WasmPlugin cannot set it: requests it concerns wait 10 s and are refused (400); see docs/mcp-gateway.md"
        }
        BodyPhase::Off => {
            "reads the request body, and this Wasm filter lacks `allow_on_headers_stop_iteration: true`: requests it concerns wait 10 s and are refused (400)"
        }
        BodyPhase::On | BodyPhase::Unsaid => return None,
    };
    Some((format!("rules[{i}].match.mcp"), why.to_string()))
}

/// Rules that match on the path in an Envoy that leaves paths as clients sent them: authgate
/// matches their normal form and refuses unclear ones, but the upstream still receives the
/// path as sent, and reads it its own way.
fn path_normalisation(
    found: &source::Found,
    config: &authgate::config::Config,
) -> Option<(String, String)> {
    if found.paths_normalised != Some(false) || !config.reads_path {
        return None;
    }
    Some((
        "rules".into(),
        "rules match on the path, and this HTTP connection manager does not normalise it: set `normalize_path: true` and `merge_slashes: true` (and `path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT` or `REJECT_REQUEST`) so that authgate, Envoy's routes and the upstream read one path; see docs/rules.md".into(),
    ))
}

/// Runs `check`; returns the exit status.
pub fn run(files: &[String], strict: bool, json_out: bool) -> i32 {
    let mut reports = Vec::new();
    for file in files {
        match source::find(file) {
            Err(why) => reports.push(Report {
                label: file.clone(),
                refusal: Some(format!("authgate: invalid configuration: {why}")),
                warnings: vec![],
                realm: None,
            }),
            Ok(found) if found.is_empty() => reports.push(Report {
                label: format!(
                    "{file}: ok (its authgate filter is configured by ECDS, or its checks are asked of the ext_authz service: check that resource, or the service's --config)"
                ),
                refusal: None,
                warnings: vec![],
                realm: None,
            }),
            Ok(found) => {
                let mut here: Vec<Report> = found.iter().map(check_one).collect();
                let realms: Vec<String> = here.iter().filter_map(|r| r.realm.clone()).collect();
                if realms.windows(2).any(|w| w[0] != w[1]) {
                    let list = realms.join(", ");
                    if let Some(first) = here.first_mut() {
                        first.warnings.push((
                            "realm".into(),
                            format!("the filters of this file use different realms ({list}): clients see a different protection space per route"),
                        ));
                    }
                }
                reports.extend(here);
            }
        }
    }
    let refused = reports.iter().any(|r| r.refusal.is_some());
    let warned = reports.iter().any(|r| !r.warnings.is_empty());
    let failed = refused || (strict && warned);
    if json_out {
        let files: Vec<Value> = reports
            .iter()
            .map(|r| {
                json!({"file": r.label, "ok": r.refusal.is_none(), "refusal": r.refusal,
                       "warnings": r.warnings.iter().map(|(f, m)| json!({"field": f, "message": m})).collect::<Vec<_>>()})
            })
            .collect();
        out!("{}", json!({"ok": !failed, "files": files}));
    } else {
        for r in &reports {
            match &r.refusal {
                Some(line) => out!("{}: {line}", r.label),
                None if r.warnings.is_empty()
                    && r.label.ends_with(')')
                    && r.label.contains("ECDS") =>
                {
                    out!("{}", r.label)
                }
                None if r.warnings.is_empty() => out!("{}: ok", r.label),
                None => {}
            }
            for (field, message) in &r.warnings {
                out!("{}: warning: {field}: {message}", r.label);
            }
        }
    }
    i32::from(failed)
}
