//! One list answer on its way to the client. A JSON answer is held by the proxy (the adapter
//! pauses its body, so it reaches the client whole if anything goes wrong, trailers included)
//! and cut at its end. An event stream passes event by event: each complete event is cut as
//! it arrives, so notifications before the answer are not held back. An answer that cannot be
//! read, is compressed, or outgrows its limit passes on unchanged from there, and says so once
//! ([`Cutter::trouble`]) so the worker can log and count it.

use super::lists::{cut, ListError};
use super::select::Kind;
use super::sse;

/// The most bytes of one event held back to read it (an event stream).
pub const MAX_EVENT: usize = 1024 * 1024;

/// The most bytes of a JSON answer the proxy is asked to hold: below Envoy's default buffer
/// limit (`per_connection_buffer_limit_bytes`, 1 MiB), which must not be reached.
pub const MAX_JSON: usize = 768 * 1024;

/// The form of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Json,
    EventStream,
    /// Passed on as it is.
    Untouched,
}

/// What to do with the body the adapter handed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Emit {
    /// Keep holding it (a JSON answer not yet whole): the proxy buffers it.
    Hold,
    /// Send on what the proxy holds, unchanged.
    Pass,
    /// Send this instead of what was handed over.
    Replace(Vec<u8>),
}

/// The state of one answer being cut.
#[derive(Debug)]
pub struct Cutter {
    kind: Kind,
    form: Form,
    /// Event streams: the start of an event not yet complete, and how far it was scanned.
    held: Vec<u8>,
    scanned: sse::Scanned,
    /// Why the answer passes unchanged, once it does and until it is said.
    trouble: Option<&'static str>,
    /// A trouble was said: one answer is logged and counted once.
    told: bool,
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
            scanned: sse::Scanned::default(),
            trouble: None,
            told: false,
            removed: 0,
        };
        if content_encoding.is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity")) {
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
        self.note(why);
    }

    /// Keeps the first reason the answer (or part of it) passes uncut.
    fn note(&mut self, why: &'static str) {
        if !self.told && self.trouble.is_none() {
            self.trouble = Some(why);
        }
    }

    /// Why the answer passes unchanged: once per answer, the first time it is asked after
    /// that became so.
    pub fn trouble(&mut self) -> Option<&'static str> {
        let t = self.trouble.take();
        self.told |= t.is_some();
        t
    }

    /// Whether the adapter must hand over the bytes of a body that has not ended (an event
    /// stream); a JSON answer is judged by its size alone until its end ([`Cutter::progress`]).
    pub fn needs_bytes(&self) -> bool {
        self.form != Form::Json
    }

    /// A JSON answer not yet whole, of `size` bytes so far: hold it, or give up when it
    /// outgrows [`MAX_JSON`].
    pub fn progress(&mut self, size: usize) -> Emit {
        match self.form {
            Form::Json if size > MAX_JSON => {
                self.give_up("the answer is larger than authgate reads");
                Emit::Pass
            }
            Form::Json => Emit::Hold,
            _ => Emit::Pass,
        }
    }

    /// The answer ended with trailers and its body could not be had again: what is held goes
    /// on as it is (a JSON answer the proxy holds), or is dropped (an event stream's last
    /// event, which trailers carry no body to send in).
    pub fn ended_by_trailers(&mut self) -> Emit {
        match self.form {
            Form::Json => {
                self.give_up("the answer ended with trailers, its body out of reach");
                Emit::Pass
            }
            Form::EventStream | Form::Untouched => Emit::Replace(std::mem::take(&mut self.held)),
        }
    }

    /// What to do with `body` (`end`: the answer's last): for a JSON answer, everything the
    /// proxy holds so far; for an event stream, the new chunk. `keep` says whether the caller
    /// may use a name.
    pub fn push(&mut self, body: &[u8], end: bool, keep: &mut dyn FnMut(&str) -> bool) -> Emit {
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
        let emit = match self.form {
            // Every way to give up leaves nothing held: what comes goes on as it is.
            Form::Untouched => Emit::Pass,
            Form::Json if !end => self.progress(body.len()),
            Form::Json => match edit(body) {
                Ok(Some(cut)) => Emit::Replace(cut),
                Ok(None) => Emit::Pass,
                Err(e) => {
                    self.note(e.reason());
                    Emit::Pass
                }
            },
            Form::EventStream => {
                self.held.extend_from_slice(body);
                let (ends, scanned) = sse::scan(&self.held, self.scanned);
                let upto = if end {
                    self.held.len()
                } else {
                    ends.last().copied().unwrap_or(0)
                };
                let rest = self.held.split_off(upto);
                let done = std::mem::replace(&mut self.held, rest);
                self.scanned = sse::Scanned {
                    next: scanned.next.saturating_sub(upto),
                    line_start: scanned.line_start.saturating_sub(upto),
                };
                let mut failed = None;
                let out = events(&done, &mut |data: &[u8]| match edit(data) {
                    Ok(new) => new,
                    // A data line that is not JSON (a priming event) is not a list answer.
                    Err(e) => {
                        if data.first() == Some(&b'{') {
                            failed = failed.or(Some(e));
                        }
                        None
                    }
                });
                if let Some(e) = failed {
                    self.note(e.reason());
                }
                if self.held.len() > MAX_EVENT {
                    self.give_up("an event is larger than authgate reads");
                    let mut all = out;
                    all.append(&mut self.held);
                    Emit::Replace(all)
                } else {
                    Emit::Replace(out)
                }
            }
        };
        self.removed += removed;
        emit
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

    fn keep(n: &str) -> bool {
        n != "delete_repo"
    }

    /// An event stream in `chunks`: what reaches the client.
    fn stream(c: &mut Cutter, chunks: &[&str]) -> String {
        let mut out = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            match c.push(chunk.as_bytes(), i + 1 == chunks.len(), &mut keep) {
                Emit::Replace(b) => out.extend(b),
                Emit::Pass => out.extend_from_slice(chunk.as_bytes()),
                Emit::Hold => panic!("an event stream is never held by the proxy"),
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_json_answer_is_held_by_the_proxy_and_cut_at_its_end() {
        let mut c = Cutter::new(Kind::Tool, Some("application/json"), None).unwrap();
        let (a, _) = LIST.split_at(20);
        assert_eq!(c.push(a.as_bytes(), false, &mut keep), Emit::Hold);
        assert_eq!(
            c.push(LIST.as_bytes(), true, &mut keep),
            Emit::Replace(CUT.as_bytes().to_vec())
        );
        assert_eq!((c.removed, c.trouble()), (1, None));
        let mut all = Cutter::new(Kind::Tool, Some("application/json"), None).unwrap();
        assert_eq!(
            all.push(LIST.as_bytes(), true, &mut |_| true),
            Emit::Pass,
            "nothing removed"
        );
    }

    #[test]
    fn an_event_stream_is_cut_event_by_event() {
        let mut c = Cutter::new(Kind::Tool, Some("text/event-stream"), None).unwrap();
        let note =
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
        let whole = format!("id: p\ndata: \n\n{note}event: message\ndata: {LIST}\n\n");
        let (a, _) = whole.split_at(whole.len() - 40);
        let Emit::Replace(first) = c.push(a.as_bytes(), false, &mut keep) else {
            panic!("an event stream is replaced chunk by chunk")
        };
        assert_eq!(
            String::from_utf8(first).unwrap(),
            format!("id: p\ndata: \n\n{note}"),
            "complete events pass at once"
        );
        let mut c = Cutter::new(Kind::Tool, Some("text/event-stream"), None).unwrap();
        let chunks: Vec<String> = whole
            .as_bytes()
            .chunks(7)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
        assert_eq!(
            stream(&mut c, &refs),
            format!("id: p\ndata: \n\n{note}event: message\ndata: {CUT}\n\n")
        );
        assert_eq!((c.removed, c.trouble()), (1, None));
    }

    #[test]
    fn what_cannot_be_cut_passes_unchanged_and_says_why() {
        let mut c = Cutter::new(Kind::Tool, Some("application/json"), None).unwrap();
        assert_eq!(c.push(b"{oops", true, &mut keep), Emit::Pass);
        assert_eq!(c.trouble(), Some("the answer is not JSON"));
        assert_eq!(c.trouble(), None, "said once");
        let mut gz = Cutter::new(Kind::Tool, Some("application/json"), Some("gzip")).unwrap();
        assert!(!gz.may_change());
        assert_eq!(gz.trouble(), Some("the answer is compressed"));
        assert!(Cutter::new(Kind::Tool, Some("text/html"), None).is_none());
        let mut big = Cutter::new(Kind::Tool, Some("application/json"), None).unwrap();
        assert_eq!(
            big.push(&vec![b' '; MAX_JSON + 1], false, &mut keep),
            Emit::Pass
        );
        assert_eq!(
            big.trouble(),
            Some("the answer is larger than authgate reads")
        );
        assert_eq!(
            big.push(b"x", true, &mut keep),
            Emit::Pass,
            "and stays unchanged"
        );
        let mut trailers = Cutter::new(Kind::Tool, Some("application/json"), None).unwrap();
        assert_eq!(trailers.progress(LIST.len()), Emit::Hold);
        assert!(!trailers.needs_bytes(), "judged by its size until its end");
        assert_eq!(
            trailers.ended_by_trailers(),
            Emit::Pass,
            "the proxy sends what it holds"
        );
        let mut events = Cutter::new(Kind::Tool, Some("text/event-stream"), None).unwrap();
        let huge = format!("data: {}", "x".repeat(MAX_EVENT));
        assert_eq!(
            stream(&mut events, &[&huge, "y\n\n"]),
            format!("{huge}y\n\n")
        );
        assert_eq!(
            events.trouble(),
            Some("an event is larger than authgate reads")
        );
        // A stream that ends on a CR (found by the fuzz target: the scan stopped before it).
        let mut cr = Cutter::new(Kind::Tool, Some("text/event-stream"), None).unwrap();
        assert_eq!(stream(&mut cr, &["data: a\r", "\r"]), "data: a\r\r");
        // A bad answer stays reported when a priming event (not JSON) follows it.
        let mut bad = Cutter::new(Kind::Tool, Some("text/event-stream"), None).unwrap();
        let _ = stream(&mut bad, &["data: {oops\n\ndata: \n\n", ""]);
        assert_eq!(bad.trouble(), Some("the answer is not JSON"));
        // Said once per answer, however many events go wrong.
        let mut twice = Cutter::new(Kind::Tool, Some("text/event-stream"), None).unwrap();
        let mut said = 0;
        for chunk in ["data: {a\n\n", "data: {b\n\n"] {
            let _ = twice.push(chunk.as_bytes(), false, &mut keep);
            said += usize::from(twice.trouble().is_some());
        }
        assert_eq!(said, 1);
    }
}
