//! The one list of provider types: `type` in the configuration → how to compile one. A new
//! provider is one line here.

use super::{api_key, basic, introspection, jwt, oidc, Provider, Setup};
use crate::error::ConfigError;
use serde_json::Value;

/// Compiles a provider from its configuration object (without `type`).
pub type Compile = fn(&Setup, Value) -> Result<Box<dyn Provider>, ConfigError>;

/// Every provider type.
pub const TYPES: &[(&str, Compile)] = &[
    ("basic", basic::from_config),
    ("api_key", api_key::from_config),
    ("jwt", jwt::from_config),
    ("introspection", introspection::from_config),
    ("oidc", oidc::provider::from_config),
];

/// Compiles provider `setup.name` from its configuration object.
pub fn compile(setup: &Setup, value: &Value) -> Result<Box<dyn Provider>, ConfigError> {
    let at = setup.field();
    let Value::Object(fields) = value else {
        return Err(ConfigError::new(at, "must be an object with a `type`"));
    };
    let mut fields = fields.clone();
    let kind = match fields.remove("type") {
        Some(Value::String(kind)) => kind,
        Some(_) => return Err(ConfigError::new(format!("{at}.type"), "must be a string")),
        None => return Err(ConfigError::new(at, "missing field `type`")),
    };
    let Some((_, compile)) = TYPES.iter().find(|(t, _)| *t == kind) else {
        let known: Vec<String> = TYPES.iter().map(|(t, _)| format!("`{t}`")).collect();
        return Err(ConfigError::new(
            format!("{at}.type"),
            format!(
                "unknown provider type `{kind}`, expected one of {}",
                known.join(", ")
            ),
        ));
    };
    compile(setup, Value::Object(fields))
}
