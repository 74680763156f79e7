//! Decodes a `google.protobuf.Struct` in protobuf wire format into JSON. Envoy hands a plugin
//! its configuration as the raw bytes of the `Any`: the text for a `StringValue`, but the
//! serialized message for a `Struct`. Only the Struct/Value/ListValue shapes are understood;
//! anything else is an error, never a guess.

use serde_json::{Map, Number, Value};

/// Nesting deeper than this is refused (a configuration is never this deep).
const MAX_DEPTH: usize = 64;

/// Decodes `bytes` as a serialized `google.protobuf.Struct`.
pub fn decode(bytes: &[u8]) -> Option<Value> {
    decode_struct(bytes, 0).map(Value::Object)
}

struct Reader<'a> {
    buf: &'a [u8],
}

enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first()?;
            self.buf = rest;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(out);
            }
        }
        None
    }

    /// The next field number and value, `None` at the end, `Some(None)` when malformed.
    fn field(&mut self) -> Option<Option<(u64, Field<'a>)>> {
        if self.buf.is_empty() {
            return None;
        }
        let Some(tag) = self.varint() else {
            return Some(None);
        };
        let value = match tag & 7 {
            0 => self.varint().map(Field::Varint),
            1 => self.take(8).map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Field::Fixed64(u64::from_le_bytes(a))
            }),
            2 => self
                .varint()
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| self.take(n))
                .map(Field::Bytes),
            _ => None,
        };
        Some(value.map(|v| (tag >> 3, v)))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
}

fn decode_struct(bytes: &[u8], depth: usize) -> Option<Map<String, Value>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut r = Reader { buf: bytes };
    let mut map = Map::new();
    while let Some(field) = r.field() {
        let (1, Field::Bytes(entry)) = field? else {
            return None;
        };
        let mut e = Reader { buf: entry };
        let (mut key, mut value) = (None, Value::Null);
        while let Some(f) = e.field() {
            match f? {
                (1, Field::Bytes(k)) => key = Some(String::from_utf8(k.to_vec()).ok()?),
                (2, Field::Bytes(v)) => value = decode_value(v, depth + 1)?,
                _ => return None,
            }
        }
        map.insert(key?, value);
    }
    Some(map)
}

fn decode_value(bytes: &[u8], depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut r = Reader { buf: bytes };
    let mut out = Value::Null;
    while let Some(field) = r.field() {
        out = match field? {
            (1, Field::Varint(_)) => Value::Null,
            (2, Field::Fixed64(bits)) => number(f64::from_bits(bits))?,
            (3, Field::Bytes(s)) => Value::String(String::from_utf8(s.to_vec()).ok()?),
            (4, Field::Varint(b)) => Value::Bool(b != 0),
            (5, Field::Bytes(s)) => Value::Object(decode_struct(s, depth + 1)?),
            (6, Field::Bytes(l)) => {
                let mut lr = Reader { buf: l };
                let mut items = Vec::new();
                while let Some(item) = lr.field() {
                    let (1, Field::Bytes(v)) = item? else {
                        return None;
                    };
                    items.push(decode_value(v, depth + 1)?);
                }
                Value::Array(items)
            }
            _ => return None,
        };
    }
    Some(out)
}

/// Struct numbers are doubles; whole ones become JSON integers so that integer fields
/// (seconds, counts) read as written.
fn number(f: f64) -> Option<Value> {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        Some(Value::Number(Number::from(f as i64)))
    } else {
        Number::from_f64(f).map(Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len_field(n: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![n << 3 | 2, body.len() as u8];
        v.extend_from_slice(body);
        v
    }

    fn entry(key: &str, value: &[u8]) -> Vec<u8> {
        let mut e = len_field(1, key.as_bytes());
        e.extend(len_field(2, value));
        len_field(1, &e)
    }

    #[test]
    fn decodes_every_value_kind() {
        let mut number = vec![2 << 3 | 1];
        number.extend_from_slice(&60f64.to_le_bytes());
        let mut half = vec![2 << 3 | 1];
        half.extend_from_slice(&0.5f64.to_le_bytes());
        let list = len_field(
            6,
            &[
                len_field(1, &len_field(3, b"a")),
                len_field(1, &[4 << 3, 1]),
            ]
            .concat(),
        );
        let inner = len_field(5, &entry("s", &len_field(3, b"x")));
        let bytes = [
            entry("realm", &len_field(3, b"api")),
            entry("n", &number),
            entry("h", &half),
            entry("b", &[4 << 3, 0]),
            entry("z", &[1 << 3, 0]),
            entry("l", &list),
            entry("o", &inner),
        ]
        .concat();
        let v = decode(&bytes).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"realm": "api", "n": 60, "h": 0.5, "b": false, "z": null,
                               "l": ["a", true], "o": {"s": "x"}})
        );
    }

    #[test]
    fn refuses_what_is_not_a_struct() {
        for bad in [
            &b"{\"realm\": 1}"[..],
            b"\x0a\x05ab",
            b"\x0a\x02\x0a\xff",
            b"\x12\x00",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}

#[cfg(test)]
mod reference_bytes {
    /// `Struct` serialized by the protobuf reference implementation (Python `protobuf`,
    /// `json_format.ParseDict` then `SerializeToString`).
    const PYTHON_PROTOBUF: &str = "0a5f0a0970726f76696465727312522a500a4e0a016b12492a470a320a0b63726564656e7469616c73122332210a1f2a1d0a0c0a036b657912051a03732d310a0d0a06636c69656e7412031a01630a110a047479706512091a076170695f6b65790a1a0a14616c6c6f775f636f72735f707265666c6967687412022000";

    #[test]
    fn decodes_reference_serialization() {
        let bytes: Vec<u8> = (0..PYTHON_PROTOBUF.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&PYTHON_PROTOBUF[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(
            super::decode(&bytes).unwrap(),
            serde_json::json!({"providers": {"k": {"type": "api_key",
                "credentials": [{"client": "c", "key": "s-1"}]}}, "allow_cors_preflight": false})
        );
    }
}
