//! Finds authgate's plugin configurations in a file: a plugin configuration itself (JSON), an
//! Envoy configuration (YAML or JSON, bootstrap or ECDS: every Wasm filter whose code file
//! names authgate or whose configuration reads as authgate's), an Istio `WasmPlugin`
//! (`spec.pluginConfig`), or a Kubernetes `ConfigMap` holding one for the ext_authz service.
//! Each comes with the Wasm VM environment its filter would have.

use serde_json::Value;
use std::collections::HashMap;

/// One plugin configuration found in a file.
pub struct Found {
    /// Where: the file, and which filter in it when there are several.
    pub label: String,
    /// The configuration as the filter receives it (JSON text).
    pub config: Vec<u8>,
    /// The VM's environment variables (`vm_config.environment_variables`, `vmConfig.env`).
    pub env: HashMap<String, String>,
    /// A bare plugin configuration has no VM environment of its own: this process's is used.
    pub process_env: bool,
    /// Whether the filter is handed a paused request's body (rules with `match.mcp` need it).
    pub body_phase: BodyPhase,
    /// Whether the Envoy HTTP connection manager around the filter normalises paths
    /// (`normalize_path` and `merge_slashes` both on); `None` where the file does not say (a
    /// bare configuration, an Istio `WasmPlugin`, whose mesh settles it).
    pub paths_normalised: Option<bool>,
}

/// Envoy's `allow_on_headers_stop_iteration` on the filter that carries a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPhase {
    /// A bare plugin configuration does not say.
    Unsaid,
    /// Set to true.
    On,
    /// Not set (or false) on an Envoy Wasm filter.
    Off,
    /// An Istio `WasmPlugin`, which has no field for it.
    CannotBeSet,
}

impl Found {
    /// The VM environment variable `name` as the filter would see it.
    pub fn var(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .cloned()
            .or_else(|| self.process_env.then(|| std::env::var(name).ok()).flatten())
    }
}

/// The documents of a file: JSON, or YAML (several documents separated by `---`).
fn documents(text: &str) -> Result<Vec<Value>, String> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(vec![v]);
    }
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v: Value =
            serde::Deserialize::deserialize(doc).map_err(|e| format!("not JSON or YAML: {e}"))?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// The configuration a Wasm filter's `configuration` holds: a `StringValue`'s JSON text, or a
/// `Struct`'s object.
fn configuration(c: &Value) -> Option<Vec<u8>> {
    match c.get("value")? {
        Value::String(s) => Some(s.clone().into_bytes()),
        v @ Value::Object(_) => Some(v.to_string().into_bytes()),
        _ => None,
    }
}

fn is_authgate(config: &[u8]) -> bool {
    serde_json::from_slice::<Value>(config).is_ok_and(|v| v.get("providers").is_some())
}

/// Envoy's `vm_config.environment_variables`: `key_values`, and `host_env_keys` taken from
/// this process's environment (as Envoy takes them from its own).
fn envoy_env(vm: &Value) -> HashMap<String, String> {
    let mut env = HashMap::new();
    let vars = &vm["environment_variables"];
    if let Some(kv) = vars["key_values"].as_object() {
        for (k, v) in kv {
            if let Some(v) = v.as_str() {
                env.insert(k.clone(), v.to_string());
            }
        }
    }
    for k in vars["host_env_keys"].as_array().into_iter().flatten() {
        if let Some(k) = k.as_str() {
            if let Ok(v) = std::env::var(k) {
                env.insert(k.to_string(), v);
            }
        }
    }
    env
}

/// Every Wasm filter configuration below `v`.
/// One configuration found: the JSON, the VM environment, whether the body phase works, and
/// whether paths are normalised before it.
type Entry = (Vec<u8>, HashMap<String, String>, BodyPhase, Option<bool>);

/// Whether an HTTP connection manager's settings normalise paths: `normalize_path` (a
/// BoolValue: `true` or `{value: true}`) and `merge_slashes`.
fn normalises(hcm: &serde_json::Map<String, Value>) -> bool {
    let on = |k: &str| {
        hcm.get(k)
            .is_some_and(|v| v.as_bool().or(v["value"].as_bool()) == Some(true))
    };
    on("normalize_path") && on("merge_slashes")
}

fn walk(v: &Value, out: &mut Vec<Entry>, normalised: Option<bool>) {
    match v {
        Value::Object(m) => {
            // An HTTP connection manager: its filters see paths as it leaves them.
            let normalised = match m.contains_key("http_filters") {
                true => Some(normalises(m)),
                false => normalised,
            };
            // The native module: a dynamic-module filter named authgate, configured by the
            // same document.
            if let (Some(module), Some(c)) =
                (m.get("dynamic_module_config"), m.get("filter_config"))
            {
                if module["name"].as_str() == Some("authgate") {
                    if let Some(config) = configuration(c) {
                        out.push((config, HashMap::new(), BodyPhase::Unsaid, normalised));
                    }
                }
                return;
            }
            if let (Some(vm), Some(c)) = (m.get("vm_config"), m.get("configuration")) {
                if let Some(config) = configuration(c) {
                    let file = vm["code"]["local"]["filename"].as_str().unwrap_or("");
                    if file.contains("authgate") || is_authgate(&config) {
                        // A BoolValue: `true`, or `{value: true}`.
                        let knob = &m.get("allow_on_headers_stop_iteration");
                        let on = knob
                            .is_some_and(|k| k.as_bool().or(k["value"].as_bool()) == Some(true));
                        let phase = if on { BodyPhase::On } else { BodyPhase::Off };
                        out.push((config, envoy_env(vm), phase, normalised));
                    }
                }
                return;
            }
            m.values().for_each(|x| walk(x, out, normalised));
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, out, normalised)),
        _ => {}
    }
}

/// An Istio `WasmPlugin`'s configuration and environment (`INLINE` values, `HOST` ones from
/// this process's environment).
fn wasm_plugin(doc: &Value) -> Option<Entry> {
    let spec = &doc["spec"];
    let config = spec.get("pluginConfig")?.to_string().into_bytes();
    let mut env = HashMap::new();
    for e in spec["vmConfig"]["env"].as_array().into_iter().flatten() {
        let Some(name) = e["name"].as_str() else {
            continue;
        };
        let value = match e["valueFrom"].as_str() {
            Some("HOST") => std::env::var(name).ok(),
            _ => e["value"].as_str().map(str::to_string),
        };
        if let Some(v) = value {
            env.insert(name.to_string(), v);
        }
    }
    Some((config, env, BodyPhase::CannotBeSet, None))
}

/// The plugin configurations among a ConfigMap's `data` values (JSON documents with
/// `providers`).
fn config_map(doc: &Value) -> Vec<Entry> {
    let Some(data) = doc["data"].as_object() else {
        return Vec::new();
    };
    data.values()
        .filter_map(Value::as_str)
        .filter_map(|text| serde_json::from_str::<Value>(text).ok())
        .filter(|v| v.get("providers").is_some())
        .map(|v| {
            (
                v.to_string().into_bytes(),
                HashMap::new(),
                BodyPhase::Unsaid,
                None,
            )
        })
        .collect()
}

/// Every authgate configuration in the file at `path`.
pub fn find(path: &str) -> Result<Vec<Found>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut all = Vec::new();
    let mut bare = false;
    for doc in documents(&text)? {
        if doc.get("kind").and_then(Value::as_str) == Some("WasmPlugin") {
            all.extend(wasm_plugin(&doc));
        } else if doc.get("kind").and_then(Value::as_str) == Some("ConfigMap") {
            // The ext_authz service's configuration file, as a ConfigMap mounts it.
            bare = true;
            all.extend(config_map(&doc));
        } else if doc.get("providers").is_some() {
            bare = true;
            all.push((
                doc.to_string().into_bytes(),
                HashMap::new(),
                BodyPhase::Unsaid,
                None,
            ));
        } else {
            walk(&doc, &mut all, None);
        }
    }
    if all.is_empty() {
        // An Envoy bootstrap whose filter configuration comes by ECDS holds none itself, nor
        // one that asks the ext_authz service (the service's file holds it), nor the service's
        // mesh wiring (Istio's extensionProviders and CUSTOM policy).
        if text.contains("config_discovery")
            || text.contains("envoy.filters.http.ext_authz")
            || text.contains("envoyExtAuthzGrpc")
        {
            return Ok(vec![]);
        }
        return Err("no authgate configuration in it (a plugin configuration, an Envoy configuration with an authgate Wasm filter, or an Istio WasmPlugin)".into());
    }
    let many = all.len() > 1;
    Ok(all
        .into_iter()
        .enumerate()
        .map(|(i, (config, env, body_phase, paths_normalised))| Found {
            label: if many {
                format!("{path} (filter {})", i + 1)
            } else {
                path.to_string()
            },
            config,
            env,
            process_env: bare,
            body_phase,
            paths_normalised,
        })
        .collect())
}
