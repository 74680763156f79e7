//! Cutting a list answer down to what the caller may use: the JSON-RPC response to
//! `tools/list`, `prompts/list` or `resources/list`, with the entries of `result.tools` (by
//! `name`), `result.prompts` (by `name`) or `result.resources` (by `uri`) that the rules would
//! refuse removed. The answer is read strictly first; then only the removed entries' bytes are
//! cut out, so everything else (other members, `nextCursor`, number forms, key order) reaches
//! the client exactly as the server wrote it.

use super::select::Kind;
use crate::json::parse_strict;
use serde_json::Value;

/// Why an answer could not be cut (it passes unchanged; the calls are still authorized).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListError {
    /// Not JSON, or a key repeats.
    NotJson,
    /// A list result whose entries are not where the JSON said they were (not reached).
    Shape,
}

impl ListError {
    /// Why, in plain words (the log line of an answer passed uncut).
    pub fn reason(self) -> &'static str {
        match self {
            ListError::NotJson => "the answer is not JSON",
            ListError::Shape => "the list in the answer could not be located",
        }
    }
}

impl std::fmt::Display for ListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// The member of `result` that holds a list of `kind`.
fn list_member(kind: Kind) -> &'static str {
    match kind {
        Kind::Tool => "tools",
        Kind::Prompt => "prompts",
        Kind::Resource => "resources",
    }
}

/// `body` without the entries `keep` says no to; `Ok(None)` when nothing is removed or the
/// message holds no such list (an error answer, a notification).
pub fn cut(
    body: &[u8],
    kind: Kind,
    keep: &mut dyn FnMut(&str) -> bool,
) -> Result<Option<Vec<u8>>, ListError> {
    let v = parse_strict(body).map_err(|_| ListError::NotJson)?;
    let (member, key) = (list_member(kind), kind.key());
    let Some(Value::Array(entries)) = v.get("result").and_then(|r| r.get(member)) else {
        return Ok(None);
    };
    // An entry without its name cannot be used by name: it stays, as the server sent it.
    let kept: Vec<bool> = entries
        .iter()
        .map(|e| e.get(key).and_then(Value::as_str).is_none_or(&mut *keep))
        .collect();
    if kept.iter().all(|k| *k) {
        return Ok(None);
    }
    let mut scan = Scan { b: body, i: 0 };
    let result = scan.member_of_object("result").ok_or(ListError::Shape)?;
    let mut scan = Scan { b: body, i: result };
    let list = scan.member_of_object(member).ok_or(ListError::Shape)?;
    let mut scan = Scan { b: body, i: list };
    let (spans, close) = scan.elements().ok_or(ListError::Shape)?;
    if spans.len() != kept.len() {
        return Err(ListError::Shape);
    }
    let mut out = Vec::with_capacity(body.len());
    out.extend_from_slice(&body[..=list]);
    let mut first = true;
    for ((start, end), keep) in spans.into_iter().zip(kept) {
        if keep {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(&body[start..end]);
            first = false;
        }
    }
    out.extend_from_slice(&body[close..]);
    Ok(Some(out))
}

/// A cursor over JSON already read strictly, so it only finds spans and never judges.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    /// Past the string that starts here.
    fn string(&mut self) -> Option<()> {
        self.i += 1;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                _ => self.i += 1,
            }
        }
    }

    /// Past the value that starts here.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                ) {
                    self.i += 1;
                }
                Some(())
            }
        }
    }

    /// From the object that starts here (after whitespace), where the value of member `key`
    /// starts (its first byte).
    fn member_of_object(&mut self, key: &str) -> Option<usize> {
        self.ws();
        if self.peek()? != b'{' {
            return None;
        }
        self.i += 1;
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let start = self.i;
            self.string()?;
            // Through a value, not a typed read: serde's typed errors would bring float
            // formatting into the module.
            let name = parse_strict(self.b.get(start..self.i)?).ok()?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            if name.as_str() == Some(key) {
                return Some(self.i);
            }
            self.value()?;
            self.ws();
            if self.peek()? != b',' {
                return None;
            }
            self.i += 1;
        }
    }

    /// From the array that starts here, each element's span and where its `]` is.
    fn elements(&mut self) -> Option<(Vec<(usize, usize)>, usize)> {
        if self.peek()? != b'[' {
            return None;
        }
        self.i += 1;
        let mut spans = Vec::new();
        loop {
            self.ws();
            if self.peek()? == b']' {
                return Some((spans, self.i));
            }
            let start = self.i;
            self.value()?;
            spans.push((start, self.i));
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => return Some((spans, self.i)),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut_names(body: &str, kind: Kind, hidden: &[&str]) -> Result<Option<String>, ListError> {
        let mut keep = |n: &str| !hidden.contains(&n);
        cut(body.as_bytes(), kind, &mut keep).map(|o| o.map(|b| String::from_utf8(b).unwrap()))
    }

    #[test]
    fn cuts_only_the_refused_entries() {
        let tools = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"search","inputSchema":{"type":"object","properties":{"q":{"type":"string","description":"a ] and a \" inside"}}}},{"name":"delete_repo","inputSchema":{"type":"object"}}, {"name":"execute_sql","annotations":{"destructiveHint":true}}],"nextCursor":"c2"}}"#;
        for (name, body, kind, hidden, want) in [
            ("the middle one", tools, Kind::Tool, &["delete_repo"][..], Some(r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"search","inputSchema":{"type":"object","properties":{"q":{"type":"string","description":"a ] and a \" inside"}}}},{"name":"execute_sql","annotations":{"destructiveHint":true}}],"nextCursor":"c2"}}"#)),
            ("the first", tools, Kind::Tool, &["search"][..], Some(r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"delete_repo","inputSchema":{"type":"object"}},{"name":"execute_sql","annotations":{"destructiveHint":true}}],"nextCursor":"c2"}}"#)),
            ("all", tools, Kind::Tool, &["search", "delete_repo", "execute_sql"][..], Some(r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[],"nextCursor":"c2"}}"#)),
            ("none: unchanged", tools, Kind::Tool, &[][..], None),
            ("another kind: unchanged", tools, Kind::Prompt, &["search"][..], None),
            ("an error answer", r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}"#, Kind::Tool, &["x"][..], None),
            ("pretty and escaped keys", "{\n  \"id\": 2,\n  \"jsonrpc\": \"2.0\",\n  \"result\": {\n    \"t\\u006fols\": [\n      { \"name\": \"a\" },\n      { \"name\": \"b\" }\n    ]\n  }\n}", Kind::Tool, &["a"][..], Some("{\n  \"id\": 2,\n  \"jsonrpc\": \"2.0\",\n  \"result\": {\n    \"t\\u006fols\": [{ \"name\": \"b\" }]\n  }\n}")),
            ("resources by uri", r#"{"jsonrpc":"2.0","id":3,"result":{"resources":[{"uri":"file:///a","name":"a"},{"uri":"file:///secret","name":"s"}]}}"#, Kind::Resource, &["file:///secret"][..], Some(r#"{"jsonrpc":"2.0","id":3,"result":{"resources":[{"uri":"file:///a","name":"a"}]}}"#)),
            ("an entry without a name stays", r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"title":"?"},{"name":"x"}]}}"#, Kind::Tool, &["x"][..], Some(r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"title":"?"}]}}"#)),
        ] {
            assert_eq!(cut_names(body, kind, hidden), Ok(want.map(String::from)), "{name}");
        }
    }

    #[test]
    fn what_cannot_be_read_is_an_error() {
        for body in [
            "{",
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}],"tools":[{"name":"b"}]}}"#,
        ] {
            assert_eq!(
                cut_names(body, Kind::Tool, &["a", "b"]),
                Err(ListError::NotJson),
                "{body}"
            );
        }
    }

    #[test]
    fn the_cut_answer_is_json_with_exactly_the_kept_entries() {
        let body = r#"{"result":{"tools":[{"name":"a","n":[1,2,{"x":"]"}]},{"name":"b"},{"name":"c","d":-1.5e3}]},"jsonrpc":"2.0","id":"z"}"#;
        let out = cut_names(body, Kind::Tool, &["b"]).unwrap().unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        let names: Vec<&str> = v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(v["id"], "z");
    }
}
