//! One audit line as named, typed fields, written either as the `key=value` text operators
//! grep (`audit_format: "text"`, the default) or as one JSON object a log pipeline (Vector,
//! Fluent Bit, Loki) reads without a regex (`audit_format: "json"`). Both forms come from the
//! same fields, so they cannot say different things.

pub use crate::config::AuditFormat;
use std::borrow::Cow;
use std::fmt::Write;

/// Longest value written into a line, in characters; longer ones end in `...`.
pub const MAX_VALUE: usize = 256;

/// A field's value.
pub enum Value<'a> {
    /// A number (`status`, a count).
    Num(u64),
    /// A word from the configuration or the code (`error`, `rule`, `provider`,
    /// `credential`): bare in text, a JSON string; absent, `-` in text and `null` in JSON.
    Word(Option<Cow<'a, str>>),
    /// Text from the request or a reason: quoted and escaped in text, a JSON string; absent,
    /// `"-"` in text and `null` in JSON.
    Text(Option<Cow<'a, str>>),
}

/// An audit line: what happened (`event`, the JSON `authgate` member), the text form's
/// heading, and its fields in order.
pub struct Line<'a> {
    event: &'static str,
    heading: &'static str,
    fields: Vec<(&'static str, Value<'a>)>,
}

impl<'a> Line<'a> {
    /// A line about `event` (JSON), headed `authgate: <heading>` in text.
    pub fn new(event: &'static str, heading: &'static str) -> Self {
        Line {
            event,
            heading,
            fields: Vec::with_capacity(12),
        }
    }

    /// Adds a field.
    pub fn with(mut self, key: &'static str, value: Value<'a>) -> Self {
        self.fields.push((key, value));
        self
    }

    /// Adds a field in place.
    pub fn push(&mut self, key: &'static str, value: Value<'a>) {
        self.fields.push((key, value));
    }

    /// The line in `format`.
    pub fn render(&self, format: AuditFormat) -> String {
        match format {
            AuditFormat::Text => self.text(),
            AuditFormat::Json => self.json(),
        }
    }

    fn text(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("authgate: ");
        out.push_str(self.heading);
        for (key, value) in &self.fields {
            out.push(' ');
            out.push_str(key);
            out.push('=');
            match value {
                Value::Num(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::Word(w) => out.push_str(w.as_deref().unwrap_or("-")),
                Value::Text(t) => quoted(&mut out, t.as_deref().unwrap_or("-")),
            }
        }
        out
    }

    fn json(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"authgate\":");
        json_string(&mut out, self.event);
        for (key, value) in &self.fields {
            out.push(',');
            json_string(&mut out, key);
            out.push(':');
            match value {
                Value::Num(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::Word(Some(s)) | Value::Text(Some(s)) => json_string(&mut out, s),
                Value::Word(None) | Value::Text(None) => out.push_str("null"),
            }
        }
        out.push('}');
        out
    }
}

/// `s` cut to [`MAX_VALUE`] characters, with `...` when it was longer.
fn bounded(s: &str) -> (&str, bool) {
    match s.char_indices().nth(MAX_VALUE) {
        Some((at, _)) => (&s[..at], true),
        None => (s, false),
    }
}

/// `"..."` with quotes, backslashes and control characters escaped, cut to a bounded length.
fn quoted(out: &mut String, s: &str) {
    let (s, cut) = bounded(s);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    if cut {
        out.push_str("...");
    }
    out.push('"');
}

/// A JSON string (RFC 8259 §7), cut to a bounded length like the text form.
fn json_string(out: &mut String, s: &str) {
    let (s, cut) = bounded(s);
    crate::json::push_str(out, s);
    if cut {
        out.pop();
        out.push_str("...\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Line<'static> {
        Line::new("denied", "denied")
            .with("status", Value::Num(401))
            .with("provider", Value::Word(None))
            .with("path", Value::Text(Some("/a\"b\\c\n\u{7f}é".into())))
            .with("identity", Value::Text(None))
    }

    #[test]
    fn text_and_json_say_the_same_thing() {
        let l = sample();
        assert_eq!(
            l.render(AuditFormat::Text),
            r#"authgate: denied status=401 provider=- path="/a\"b\\c\x0a\x7fé" identity="-""#
        );
        let json = l.render(AuditFormat::Json);
        assert_eq!(
            json,
            r#"{"authgate":"denied","status":401,"provider":null,"path":"/a\"b\\c\n\u007fé","identity":null}"#
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["path"], "/a\"b\\c\n\u{7f}é");
    }

    #[test]
    fn every_control_character_is_escaped_and_long_values_are_cut() {
        let all: String = (0u32..0x20)
            .chain(0x7f..0xa0)
            .chain([0x2028, 0x2029])
            .filter_map(char::from_u32)
            .collect();
        let long = "x".repeat(MAX_VALUE + 10);
        let l = Line::new("allowed", "allowed")
            .with("reason", Value::Text(Some(all.clone().into())))
            .with("path", Value::Text(Some(long.into())));
        let json = l.render(AuditFormat::Json);
        assert!(json.is_ascii(), "every one escaped: {json:?}");
        assert_eq!(json.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["reason"], all.as_str());
        assert_eq!(v["path"], format!("{}...", "x".repeat(MAX_VALUE)));
        let text = l.render(AuditFormat::Text);
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(text.ends_with(&format!("{}...\"", "x".repeat(MAX_VALUE))));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let s = "é".repeat(MAX_VALUE + 1);
        let json = Line::new("e", "e")
            .with("v", Value::Text(Some(s.into())))
            .render(AuditFormat::Json);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["v"].as_str().unwrap().chars().count(), MAX_VALUE + 3);
    }
}
