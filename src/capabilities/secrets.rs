//! Secrets the host's environment holds (Envoy: `vm_config.environment_variables`): one value,
//! or a list of keys whose first signs and whose others still verify, so keys rotate. Read at
//! load; an error names the configuration field that named the variable.

use crate::error::ConfigError;

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

/// The non-empty value of environment variable `name`, named by configuration field `at`.
pub fn value_of(env: super::Env, at: &str, name: &str) -> Result<String, ConfigError> {
    match env(name) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ConfigError::new(
            at,
            format!("the Wasm VM's environment has no (or an empty) `{name}` (Envoy: vm_config.environment_variables; Istio: WasmPlugin.spec.vmConfig.env)"),
        )),
    }
}
