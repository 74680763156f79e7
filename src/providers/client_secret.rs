//! A client secret given in the configuration (`client_secret`) or by name from the Wasm VM's
//! environment (`client_secret_env`), read the same way by every provider that authenticates
//! to an authorization server (introspection, sign-in).

use super::Setup;
use crate::error::ConfigError;

/// The secret of provider section `field`: `Ok(None)` when neither field is given (whether
/// that is allowed is the provider's call), an error naming the field when both are, one is
/// empty, or the environment has no such variable.
pub fn resolve(
    setup: &Setup,
    field: &str,
    secret: Option<&str>,
    env: Option<&str>,
) -> Result<Option<String>, ConfigError> {
    let at = |f: &str| format!("{field}.{f}");
    match (secret, env) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            at("client_secret_env"),
            "cannot stand beside `client_secret`: give the secret one way",
        )),
        (None, None) => Ok(None),
        (Some(""), None) => Err(ConfigError::new(at("client_secret"), "must not be empty")),
        (Some(s), None) => Ok(Some(s.to_string())),
        (None, Some(name)) => env_value(setup, &at("client_secret_env"), name).map(Some),
    }
}

/// The non-empty value of VM environment variable `name`, named by config field `at`.
pub fn env_value(setup: &Setup, at: &str, name: &str) -> Result<String, ConfigError> {
    value_of(setup.env, at, name)
}

/// The keys in VM environment variable `name` (field `at`): base64 (either alphabet), separated
/// by spaces, commas or newlines, each at least `min` bytes; the first is the one that signs.
/// `what` names one in errors ("key", "secret").
pub fn key_list(
    env: super::Env,
    at: &str,
    (name, what, min): (&str, &str, usize),
) -> Result<Vec<Vec<u8>>, ConfigError> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    let text = value_of(env, at, name)?;
    let mut keys = Vec::new();
    for (i, k) in text
        .split([' ', ',', '\n', '\t'])
        .filter(|k| !k.is_empty())
        .enumerate()
    {
        let bytes = URL_SAFE_NO_PAD
            .decode(k.trim_end_matches('='))
            .ok()
            .or_else(|| STANDARD.decode(k).ok())
            .ok_or_else(|| {
                ConfigError::new(at, format!("{what} {} of `{name}` is not base64", i + 1))
            })?;
        if bytes.len() < min {
            return Err(ConfigError::new(
                at,
                format!("{what} {} of `{name}` is {} bytes; at least {min} are needed (openssl rand -base64 32)", i + 1, bytes.len()),
            ));
        }
        keys.push(bytes);
    }
    match keys.is_empty() {
        true => Err(ConfigError::new(at, format!("`{name}` holds no {what}"))),
        false => Ok(keys),
    }
}

fn value_of(env: super::Env, at: &str, name: &str) -> Result<String, ConfigError> {
    match env(name) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ConfigError::new(
            at,
            format!("the Wasm VM's environment has no (or an empty) `{name}` (Envoy: vm_config.environment_variables; Istio: WasmPlugin.spec.vmConfig.env)"),
        )),
    }
}
