//! Reads the JSON value of the configuration into the `Raw*` structs, naming the full JSON
//! path of the first field it cannot read.
//!
//! Why not serde's derive: every derived deserializer is monomorphized for the deserializer it
//! runs on, and the path tracking (`serde_path_to_error`) wraps each of them once more; the two
//! cost ~120 KB of the 1.03 MB module, in every sidecar, for code that runs once per
//! configuration. Here each field is one call into a handful of non-generic functions.

use crate::error::ConfigError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A value read from the configuration at JSON path `at`.
pub trait Decode: Sized + Default {
    /// Reads `v`, found at `at`; an error names `at` (or a path inside it).
    fn decode(v: &Value, at: &str) -> Result<Self, ConfigError>;
    /// The value of an absent field: `Some` only for an optional one.
    fn absent() -> Option<Self> {
        None
    }
}

/// The path of `key` inside the object at `at`.
#[inline(never)]
pub fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "floating point",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "sequence",
        Value::Object(_) => "map",
    }
}

/// "invalid type": the value's kind only, never its text (a secret pasted into the wrong
/// field must not reach the log).
#[inline(never)]
fn invalid(v: &Value, at: &str, expected: &str) -> ConfigError {
    ConfigError::new(
        at,
        format!("invalid type: {}, expected {expected}", kind(v)),
    )
}

/// The object at `at`, refusing any key not in `fields` (`deny_unknown_fields`).
#[inline(never)]
pub fn object<'a>(
    v: &'a Value,
    at: &str,
    fields: &[&str],
) -> Result<&'a Map<String, Value>, ConfigError> {
    let Value::Object(map) = v else {
        return Err(invalid(v, at, "a map"));
    };
    if let Some(k) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(ConfigError::new(join(at, k), unknown(k, fields)));
    }
    Ok(map)
}

/// serde's wording, which users and our docs already know.
fn unknown(key: &str, fields: &[&str]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    let expected = match quoted.as_slice() {
        [] => "there are no fields".to_string(),
        [one] => format!("expected {one}"),
        [a, b] => format!("expected {a} or {b}"),
        all => format!("expected one of {}", all.join(", ")),
    };
    format!("unknown field `{key}`, {expected}")
}

/// The field `key` of the object at `at`, or its absent value. The first error is kept in
/// `first` and the field reads as its default, so a struct is built with no early return:
/// each early return would drop every field read before it, and that drop code alone was
/// ~40 KB of the module. The generic part is kept to the one call that needs `T`.
pub fn field<T: Decode>(
    map: &Map<String, Value>,
    at: &str,
    key: &str,
    first: &mut Option<ConfigError>,
) -> T {
    let read = match locate(map, at, key, first) {
        Found::Skip => return T::default(),
        Found::At(v, path) => T::decode(v, &path),
        Found::Absent => T::absent().ok_or_else(|| missing(at, key)),
    };
    keep(read, first)
}

enum Found<'a> {
    /// An earlier field failed: nothing more is read.
    Skip,
    At(&'a Value, String),
    Absent,
}

#[inline(never)]
fn locate<'a>(
    map: &'a Map<String, Value>,
    at: &str,
    key: &str,
    first: &Option<ConfigError>,
) -> Found<'a> {
    match (first, map.get(key)) {
        (Some(_), _) => Found::Skip,
        (None, Some(v)) => Found::At(v, join(at, key)),
        (None, None) => Found::Absent,
    }
}

#[inline(never)]
fn missing(at: &str, key: &str) -> ConfigError {
    ConfigError::new(at, format!("missing field `{key}`"))
}

fn keep<T: Default>(read: Result<T, ConfigError>, first: &mut Option<ConfigError>) -> T {
    read.unwrap_or_else(|e| {
        *first = Some(e);
        T::default()
    })
}

/// The field's key: its name, or the name it is renamed to.
pub const fn key(name: &'static str, renamed: &[&'static str]) -> &'static str {
    match renamed {
        [k, ..] => k,
        [] => name,
    }
}

impl Decode for String {
    fn decode(v: &Value, at: &str) -> Result<Self, ConfigError> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| invalid(v, at, "a string"))
    }
}

impl Decode for bool {
    fn decode(v: &Value, at: &str) -> Result<Self, ConfigError> {
        v.as_bool().ok_or_else(|| invalid(v, at, "a boolean"))
    }
}

impl Decode for u64 {
    fn decode(v: &Value, at: &str) -> Result<Self, ConfigError> {
        match v {
            Value::Number(n) if n.is_i64() && !n.is_u64() => Err(ConfigError::new(
                at,
                "invalid value: a negative integer, expected u64",
            )),
            _ => v.as_u64().ok_or_else(|| invalid(v, at, "u64")),
        }
    }
}

impl Decode for u32 {
    fn decode(v: &Value, at: &str) -> Result<Self, ConfigError> {
        u32::try_from(u64::decode(v, at)?)
            .map_err(|_| ConfigError::new(at, "invalid value: too large, expected u32"))
    }
}

impl Decode for Value {
    fn decode(v: &Value, _: &str) -> Result<Self, ConfigError> {
        Ok(v.clone())
    }
}

impl Decode for Map<String, Value> {
    fn decode(v: &Value, at: &str) -> Result<Self, ConfigError> {
        v.as_object()
            .cloned()
            .ok_or_else(|| invalid(v, at, "a map"))
    }
}

impl<T: Decode> Decode for Option<T> {
    /// `null` reads as absent, as with serde.
    fn decode(v: &Value, at: &str) -> Result<Self, ConfigError> {
        match v {
            Value::Null => Ok(None),
            _ => T::decode(v, at).map(Some),
        }
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let items = v.as_array().ok_or_else(|| invalid(v, at, "a sequence"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| T::decode(item, &format!("{at}[{i}]")))
            .collect()
    }
}

impl<T: Decode> Decode for BTreeMap<String, T> {
    fn decode(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let map = v.as_object().ok_or_else(|| invalid(v, at, "a map"))?;
        map.iter()
            .map(|(k, item)| Ok((k.clone(), T::decode(item, &join(at, k))?)))
            .collect()
    }
}

/// Declares a `Raw*` struct and its [`Decode`]: every field is read by its name (or the
/// `= "key"` after it), `Option` fields may be absent, and any other key is refused.
macro_rules! raw_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident $(= $key:literal)? : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Default)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty ),*
        }

        impl $crate::schema::decode::Decode for $name {
            fn decode(
                v: &serde_json::Value,
                at: &str,
            ) -> Result<Self, $crate::error::ConfigError> {
                const FIELDS: &[&str] = &[
                    $( $crate::schema::decode::key(stringify!($field), &[$($key)?]) ),*
                ];
                let map = $crate::schema::decode::object(v, at, FIELDS)?;
                let mut first = None;
                let read = $name {
                    $( $field: $crate::schema::decode::field(
                        map,
                        at,
                        $crate::schema::decode::key(stringify!($field), &[$($key)?]),
                        &mut first,
                    ) ),*
                };
                match first {
                    None => Ok(read),
                    Some(e) => Err(e),
                }
            }
        }
    };
}
pub(crate) use raw_struct;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    raw_struct! {
        #[derive(Debug, PartialEq)]
        struct Inner {
            name: String,
            count: Option<u32>,
        }
    }

    raw_struct! {
        #[derive(Debug, PartialEq)]
        struct Outer {
            kind = "type": String,
            items: Option<Vec<Inner>>,
            named: Option<BTreeMap<String, Inner>>,
            flag: Option<bool>,
        }
    }

    fn said(e: ConfigError) -> String {
        match e.field.as_str() {
            "" => e.reason,
            field => format!("{field}: {}", e.reason),
        }
    }

    #[test]
    fn reads_nested_fields_and_renames() {
        let v = json!({"type": "t", "items": [{"name": "a", "count": 3}], "flag": null});
        let o = Outer::decode(&v, "").unwrap();
        assert_eq!(o.kind, "t");
        assert_eq!(o.items.unwrap()[0].count, Some(3));
        assert_eq!(o.flag, None);
    }

    #[test]
    fn errors_name_the_full_path() {
        for (name, v, expected) in [
            (
                "unknown",
                json!({"type": "t", "kind": 1}),
                "kind: unknown field `kind`, expected one of `type`, `items`, `named`, `flag`",
            ),
            ("missing", json!({"items": []}), "missing field `type`"),
            (
                "nested index",
                json!({"type": "t", "items": [{"name": "a"}, {"name": 1}]}),
                "items[1].name: invalid type: integer, expected a string",
            ),
            (
                "nested key",
                json!({"type": "t", "named": {"x": {"name": "a", "cont": 1}}}),
                "named.x.cont: unknown field `cont`, expected `name` or `count`",
            ),
            (
                "too large",
                json!({"type": "t", "items": [{"name": "a", "count": 1u64 << 40}]}),
                "items[0].count: invalid value: too large, expected u32",
            ),
            (
                "negative",
                json!({"type": "t", "items": [{"name": "a", "count": -1}]}),
                "items[0].count: invalid value: a negative integer, expected u64",
            ),
            (
                "float",
                json!({"type": "t", "items": [{"name": "a", "count": 1.5}]}),
                "items[0].count: invalid type: floating point, expected u64",
            ),
            (
                "not a map",
                json!([]),
                "invalid type: sequence, expected a map",
            ),
            (
                "secret kept out",
                json!({"type": "t", "flag": "s3cret"}),
                "flag: invalid type: string, expected a boolean",
            ),
        ] {
            assert_eq!(said(Outer::decode(&v, "").unwrap_err()), expected, "{name}");
        }
    }

    #[test]
    fn a_prefix_path_leads_every_error() {
        let e = Outer::decode(&json!({"type": 1}), "providers.p").unwrap_err();
        assert_eq!(
            said(e),
            "providers.p.type: invalid type: integer, expected a string"
        );
    }
}
