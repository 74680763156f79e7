//! Writes JSON strings by hand, so replies are built without an intermediate value tree.

/// Appends `s` to `out` as a JSON string literal (RFC 8259 §7).
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Beyond RFC 8259's minimum: DEL and C1 controls, and the line and paragraph
            // separators that some line splitters (and JavaScript before ES2019) take as a
            // line end, so that one object is always one line.
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_round_trip() {
        for s in [
            "plain",
            "q\"uote",
            "back\\slash",
            "nl\n\r\t",
            "\u{1}\u{7f}\u{85}\u{9f}\u{2028}\u{2029}",
            "é ✓",
        ] {
            let mut out = String::new();
            super::push_str(&mut out, s);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
        }
    }
}

/// Parses JSON and refuses an object that repeats a key, at any depth. serde_json keeps the
/// last copy; a JWT whose header or claims say two things must not be read as either.
pub fn parse_strict(bytes: &[u8]) -> Result<serde_json::Value, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = serde::de::Deserialize::deserialize(&mut de).map(|Strict(v)| v);
    let v = v.map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(v)
}

struct Strict(serde_json::Value);

impl<'de> serde::de::Deserialize<'de> for Strict {
    fn deserialize<D: serde::de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(out.into())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(k.clone(), v).is_some() {
                return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
            }
        }
        Ok(out.into())
    }
}

#[cfg(test)]
mod strict_tests {
    use super::parse_strict;

    #[test]
    fn refuses_duplicate_keys_at_any_depth() {
        assert!(parse_strict(br#"{"a":1,"b":{"c":[1,{"d":2}]}}"#).is_ok());
        assert!(parse_strict(br#"{"a":1,"a":2}"#)
            .unwrap_err()
            .contains("duplicate key `a`"));
        assert!(parse_strict(br#"{"x":[{"a":1,"a":1}]}"#).is_err());
        assert!(parse_strict(br#"{"a":1} x"#).is_err());
        assert!(parse_strict(&[b'['; 200]).is_err(), "depth is bounded");
    }
}
