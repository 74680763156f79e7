//! The configuration's vocabulary, below every module that has a section of it: JSON values
//! read into `Raw*` structs with errors that name the JSON path ([`decode`]), and the checks
//! of names and values that many sections share ([`fields`]). Each module owns its own raw
//! section; `config` assembles them.

pub mod decode;
pub mod fields;

use crate::error::ConfigError;
use decode::Decode;
use serde_json::Value;

/// Reads the section at JSON path `at`; an error names `at` followed by the path inside the
/// section.
pub fn section<T: Decode>(at: &str, value: Value) -> Result<T, ConfigError> {
    T::decode(&value, at)
}
