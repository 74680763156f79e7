//! A client secret given in the configuration (`client_secret`) or by name from the Wasm VM's
//! environment (`client_secret_env`), read the same way by every provider that authenticates
//! to an authorization server (introspection, sign-in).

use super::Setup;
pub use crate::capabilities::secrets::key_list;
use crate::capabilities::secrets::value_of;
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
