//! One list answer on its way to the client, chunk by chunk: a JSON answer is held whole and
//! cut at its end; an event stream passes event by event, each complete event cut as it
//! arrives, so notifications before the answer are not held back. An answer that cannot be
//! read, is compressed, or outgrows [`MAX_ANSWER`] passes on unchanged from there, and says so
//! once ([`Cutter::trouble`]) so the worker can log and count it.

use super::lists::{cut, ListError};
use super::select::Kind;
use super::sse;

/// The most bytes held back to read a list answer (a JSON answer, or one event).
pub const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// The form of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Json,
    EventStream,
    /// Passed on as it is.
    Untouched,
}

/// The state of one answer being cut.
#[derive(Debug)]
pub struct Cutter {
    kind: Kind,
    form: Form,
    held: Vec<u8>,
    /// Why the answer passes unchanged, once it does and until it is said.
    trouble: Option<&'static str>,
    /// Entries removed so far.
    pub removed: usize,
}

impl Cutter {
    /// For an answer of `content_type` and `content_encoding` to a `kind` list request;
    /// `None` when there is nothing to cut (an answer that is neither JSON nor an event
    /// stream: an error page, a 202).
    pub fn new(
        kind: Kind,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
    ) -> Option<Self> {
        let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
        let form = match essence.as_str() {
            "application/json" => Form::Json,
            "text/event-stream" => Form::EventStream,
            _ => return None,
        };
        let mut c = Cutter {
            kind,
            form,
            held: Vec::new(),
            trouble: None,
            removed: 0,
        };
        if content_encoding.is_some_and(|e| !e.eq_ignore_ascii_case("identity")) {
            c.give_up("the answer is compressed");
        }
        Some(c)
    }

    /// Whether the answer may change length (its `content-length` must go).
    pub fn may_change(&self) -> bool {
        self.form != Form::Untouched
    }

    fn give_up(&mut self, why: &'static str) {
        self.form = Form::Untouched;
        self.trouble = Some(why);
    }

    /// Why the answer passes unchanged, the first time it is asked after that became so.
    pub fn trouble(&mut self) -> Option<&'static str> {
        self.trouble.take()
    }

    /// What to send on for `chunk` (`end`: the answer's last); `keep` says whether the caller
    /// may use a name.
    pub fn push(&mut self, chunk: &[u8], end: bool, keep: &mut dyn FnMut(&str) -> bool) -> Vec<u8> {
        if self.form == Form::Untouched {
            return std::mem::take(&mut self.held)
                .into_iter()
                .chain(chunk.iter().copied())
                .collect();
        }
        self.held.extend_from_slice(chunk);
        let kind = self.kind;
        let mut removed = 0;
        let mut edit = |data: &[u8]| -> Result<Option<Vec<u8>>, ListError> {
            let mut counted = |name: &str| {
                let k = keep(name);
                removed += usize::from(!k);
                k
            };
            cut(data, kind, &mut counted)
        };
        let out = match self.form {
            Form::Json if end => {
                let body = std::mem::take(&mut self.held);
                match edit(&body) {
                    Ok(Some(cut)) => cut,
                    Ok(None) => body,
                    Err(e) => {
                        self.trouble = Some(trouble_of(e));
                        body
                    }
                }
            }
            Form::Json => Vec::new(),
            Form::EventStream => {
                let upto = if end {
                    self.held.len()
                } else {
                    sse::complete_events(&self.held)
                };
                let rest = self.held.split_off(upto);
                let done = std::mem::replace(&mut self.held, rest);
                let mut failed = None;
                let out = events(&done, &mut |data: &[u8]| match edit(data) {
                    Ok(new) => new,
                    // A data line that is not JSON (a priming event) is not a list answer.
                    Err(e) => {
                        failed = failed.or(Some(e)).filter(|_| data.first() == Some(&b'{'));
                        None
                    }
                });
                if let Some(e) = failed {
                    self.trouble = Some(trouble_of(e));
                }
                out
            }
            Form::Untouched => Vec::new(),
        };
        self.removed += removed;
        if self.held.len() > MAX_ANSWER {
            self.give_up("the answer is larger than authgate reads");
            let mut all = out;
            all.append(&mut self.held);
            return all;
        }
        out
    }
}

fn trouble_of(e: ListError) -> &'static str {
    match e {
        ListError::NotJson => "the answer is not JSON",
        ListError::Shape => "the list in the answer could not be located",
    }
}

/// Complete events of `stream`, each rewritten by `edit` where it changes.
fn events(stream: &[u8], edit: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(stream.len());
    let mut start = 0;
    let mut ends = sse::event_ends(stream);
    // At the stream's end, what is left is the last event, though no empty line ended it.
    if ends.last().copied().unwrap_or(0) < stream.len() {
        ends.push(stream.len());
    }
    for end in ends {
        let event = &stream[start..end];
        match sse::rewrite(event, edit) {
            Some(new) => out.extend_from_slice(&new),
            None => out.extend_from_slice(event),
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str =
        r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"search"},{"name":"delete_repo"}]}}"#;
    const CUT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"search"}]}}"#;

    fn run(c: &mut Cutter, chunks: &[&str]) -> String {
        let mut keep = |n: &str| n != "delete_repo";
        let mut out = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            out.extend(c.push(chunk.as_bytes(), i + 1 == chunks.len(), &mut keep));
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_json_answer_is_held_and_cut_at_its_end() {
        let mut c = Cutter::new(Kind::Tool, Some("application/json"), None).unwrap();
        let (a, b) = LIST.split_at(30);
        let mut keep = |n: &str| n != "delete_repo";
        assert!(c.push(a.as_bytes(), false, &mut keep).is_empty());
        assert_eq!(c.push(b.as_bytes(), true, &mut keep), CUT.as_bytes());
        assert_eq!((c.removed, c.trouble()), (1, None));
    }

    #[test]
    fn an_event_stream_is_cut_event_by_event() {
        let mut c = Cutter::new(Kind::Tool, Some("text/event-stream"), None).unwrap();
        let note =
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
        let stream = format!("id: p\ndata: \n\n{note}event: message\ndata: {LIST}\n\n");
        let (a, b) = stream.split_at(stream.len() - 40);
        let mut keep = |n: &str| n != "delete_repo";
        let first = String::from_utf8(c.push(a.as_bytes(), false, &mut keep)).unwrap();
        assert_eq!(
            first,
            format!("id: p\ndata: \n\n{note}"),
            "complete events pass at once"
        );
        let rest = String::from_utf8(c.push(b.as_bytes(), true, &mut keep)).unwrap();
        assert_eq!(rest, format!("event: message\ndata: {CUT}\n\n"));
        assert_eq!((c.removed, c.trouble()), (1, None));
    }

    #[test]
    fn what_cannot_be_cut_passes_unchanged_and_says_why() {
        let mut c = Cutter::new(Kind::Tool, Some("application/json"), None).unwrap();
        assert_eq!(run(&mut c, &["{\"jsonrpc\":", "oops"]), "{\"jsonrpc\":oops");
        assert_eq!(c.trouble(), Some("the answer is not JSON"));
        assert_eq!(c.trouble(), None, "said once");
        let mut gz = Cutter::new(Kind::Tool, Some("application/json"), Some("gzip")).unwrap();
        assert!(!gz.may_change());
        assert_eq!(run(&mut gz, &[LIST]), LIST);
        assert_eq!(gz.trouble(), Some("the answer is compressed"));
        assert!(Cutter::new(Kind::Tool, Some("text/html"), None).is_none());
        let mut big = Cutter::new(Kind::Tool, Some("application/json"), None).unwrap();
        let huge = "x".repeat(MAX_ANSWER + 1);
        assert_eq!(run(&mut big, &[&huge, "y"]), format!("{huge}y"));
        assert_eq!(
            big.trouble(),
            Some("the answer is larger than authgate reads")
        );
    }
}
