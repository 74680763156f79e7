//! The MCP gateway's two extra phases of a request: its body, read when a rule with
//! `match.mcp` may apply, and the answer to a list request, cut down to what the caller may
//! use. The worker keeps, per request, only what the next phase needs: the headers (a list
//! answer is judged as the caller's own uses would be) and the MCP message.

use super::{Incoming, Step, Worker};
use crate::capabilities::{Host, LogLevel};
use crate::engine::Verdict;
use crate::mcp::answer::{Cutter, Emit};
use crate::mcp::select::Kind;
use crate::request::RequestView;
use std::cell::RefCell;

/// What the adapter says of an answer when its headers arrive.
#[derive(Debug, Clone, Copy, Default)]
pub struct Answer<'a> {
    /// `content-type`.
    pub content_type: Option<&'a str>,
    /// `content-encoding`.
    pub content_encoding: Option<&'a str>,
    /// `content-length`, when it is a number.
    pub content_length: Option<usize>,
}

/// A list request let through, and its answer once it starts.
struct Listing {
    request: Incoming,
    kind: Kind,
    cutter: Option<Cutter>,
}

/// How long a request may wait for its body (ms). Without Envoy's
/// `allow_on_headers_stop_iteration`, the proxy never hands a paused request's body over; the
/// request is refused then, with a line that says what to set.
pub const BODY_WAIT_MS: u64 = 10_000;

/// Requests between phases.
#[derive(Default)]
pub(super) struct Bodies {
    /// Requests waiting for their body, with when they began to.
    reading: RefCell<Vec<(u64, Incoming)>>,
    listings: RefCell<Vec<Listing>>,
    /// The line about `allow_on_headers_stop_iteration` was written.
    told: std::cell::Cell<bool>,
}

impl Bodies {
    /// `r` waits for its body since `now_ms`.
    pub(super) fn read_body(&self, r: Incoming, now_ms: u64) {
        self.reading.borrow_mut().push((now_ms, r));
    }

    /// `r` was decided: a list request let through is kept for its answer.
    pub(super) fn decided(&self, verdict: &Verdict, r: Incoming) {
        if let Verdict::Allow(a) = verdict {
            if let Some(kind) = a.list {
                self.listings.borrow_mut().push(Listing {
                    request: r,
                    kind,
                    cutter: None,
                });
            }
        }
    }

    /// Request `id` ended.
    pub(super) fn forget(&self, id: u32) {
        self.reading.borrow_mut().retain(|(_, r)| r.id != id);
        self.listings.borrow_mut().retain(|l| l.request.id != id);
    }

    fn take_listing(&self, id: u32) -> Option<Listing> {
        let mut l = self.listings.borrow_mut();
        let i = l.iter().position(|x| x.request.id == id)?;
        Some(l.swap_remove(i))
    }
}

impl Worker {
    /// The body of request `id`, which [`Step::ReadBody`] asked for (`None`: longer than
    /// [`crate::mcp::jsonrpc::MAX_BODY`]); decides on the request with it.
    pub fn on_request_body(&self, host: &dyn Host, id: u32, body: Option<&[u8]>) -> Step {
        self.context.set(Some(id));
        let Some(c) = self.current() else {
            return Step::Unconfigured;
        };
        let mut reading = self.mcp.reading.borrow_mut();
        let Some(i) = reading.iter().position(|(_, r)| r.id == id) else {
            // A body no rule asked for: only a confused host sends one; refuse.
            return Step::Unconfigured;
        };
        let (_, mut r) = reading.swap_remove(i);
        drop(reading);
        r.mcp = Some(crate::request::mcp_from(body, &r.headers));
        self.decide_request(host, &c, r)
    }

    /// Requests whose body has not come in [`BODY_WAIT_MS`], refused (on the tick).
    pub(super) fn bodies_overdue(
        &self,
        host: &dyn Host,
        c: &super::Configured,
    ) -> Vec<(u32, Verdict)> {
        let now = host.now_ms();
        let overdue: Vec<Incoming> = {
            let mut reading = self.mcp.reading.borrow_mut();
            let (late, waiting) = std::mem::take(&mut *reading)
                .into_iter()
                .partition(|(since, _)| now.saturating_sub(*since) >= BODY_WAIT_MS);
            *reading = waiting;
            late.into_iter().map(|(_, r)| r).collect()
        };
        if !overdue.is_empty() && !self.mcp.told.replace(true) {
            host.log(
                LogLevel::Warn,
                "authgate: a request waited 10 s for its body and is refused; rules with match.mcp read the body before the request goes on, which needs `allow_on_headers_stop_iteration: true` in the Wasm filter's config (Envoy 1.35 or later)",
            );
        }
        let mut out = Vec::new();
        for mut r in overdue {
            let id = r.id;
            r.mcp = Some(Err(crate::mcp::BodyError::NotInTime));
            if let Step::Decided(d) = self.decide_request(host, c, r) {
                out.push((id, d));
            }
        }
        out
    }

    /// The answer to request `id` begins: whether its body is to be cut (then it may change
    /// length, and the adapter removes `content-length`).
    pub fn on_response_headers(&self, host: &dyn Host, id: u32, answer: Answer) -> bool {
        let (Some(c), Some(mut l)) = (self.current(), self.mcp.take_listing(id)) else {
            return false;
        };
        let Some(mut cutter) = Cutter::new(l.kind, answer.content_type, answer.content_encoding)
        else {
            return false;
        };
        // A JSON answer that says it is too long for the proxy to hold is let be (with its
        // content-length) rather than reset by Envoy's buffer limit half-way.
        if let (false, Some(n)) = (cutter.needs_bytes(), answer.content_length) {
            let _ = cutter.progress(n);
        }
        if !cutter.may_change() {
            // Compressed or too long: nothing to cut, said now, since its body is never read.
            say_trouble(host, &c, l.kind, &mut cutter);
            return false;
        }
        l.cutter = Some(cutter);
        self.mcp.listings.borrow_mut().push(l);
        true
    }

    /// Whether request `id` is a list request let through, whose answer the worker is to
    /// see ([`Worker::on_response_headers`]).
    pub fn awaits_answer(&self, id: u32) -> bool {
        self.mcp
            .listings
            .borrow()
            .iter()
            .any(|l| l.request.id == id)
    }

    /// Whether request `id` still waits for its body (a request decided without it, after
    /// [`BODY_WAIT_MS`], does not).
    pub fn reads_body(&self, id: u32) -> bool {
        self.mcp.reading.borrow().iter().any(|(_, r)| r.id == id)
    }

    /// Whether the adapter must hand over the bytes of the answer to request `id` before it
    /// ends (an event stream); else [`Worker::on_response_progress`] is enough.
    pub fn needs_bytes(&self, id: u32) -> bool {
        self.mcp
            .listings
            .borrow()
            .iter()
            .find(|l| l.request.id == id)
            .and_then(|l| l.cutter.as_ref())
            .is_some_and(Cutter::needs_bytes)
    }

    /// A JSON answer to request `id` not yet whole, `size` bytes so far: what to do.
    pub fn on_response_progress(&self, host: &dyn Host, id: u32, size: usize) -> Emit {
        let (Some(c), Some(mut l)) = (self.current(), self.mcp.take_listing(id)) else {
            return Emit::Pass;
        };
        let emit = l.cutter.as_mut().map_or(Emit::Pass, |k| k.progress(size));
        self.finish(host, &c, l, false);
        emit
    }

    /// The answer to request `id`, as the adapter has it (`end`: its last; see
    /// [`Cutter::push`] for what `body` holds): what to do with it.
    pub fn on_response_body(&self, host: &dyn Host, id: u32, body: &[u8], end: bool) -> Emit {
        let Some(c) = self.current() else {
            return Emit::Pass;
        };
        let Some(mut l) = self.mcp.take_listing(id) else {
            return Emit::Pass;
        };
        let Some(cutter) = l.cutter.as_mut() else {
            return Emit::Pass;
        };
        let now = host.now_ms() / 1000;
        let view = l.request.view();
        let kind = l.kind;
        let mut keep = |name: &str| c.engine.may_use(&view as &dyn RequestView, kind, name, now);
        let emit = cutter.push(body, end, &mut keep);
        drop(view);
        self.finish(host, &c, l, end);
        emit
    }

    /// The answer to request `id` ended with trailers; `body` is what the proxy holds of a
    /// JSON answer, when it could be had: what to do with it.
    pub fn on_response_trailers(&self, host: &dyn Host, id: u32, body: Option<&[u8]>) -> Emit {
        if let (Some(body), false) = (body, self.needs_bytes(id)) {
            return self.on_response_body(host, id, body, true);
        }
        let (Some(c), Some(mut l)) = (self.current(), self.mcp.take_listing(id)) else {
            return Emit::Pass;
        };
        let emit = l
            .cutter
            .as_mut()
            .map_or(Emit::Pass, Cutter::ended_by_trailers);
        self.finish(host, &c, l, true);
        emit
    }

    /// Says what went wrong, counts, and keeps `l` for the next chunk unless the answer ended.
    fn finish(&self, host: &dyn Host, c: &super::Configured, mut l: Listing, end: bool) {
        let kind = l.kind;
        if let Some(cutter) = l.cutter.as_mut() {
            say_trouble(host, c, kind, cutter);
            if end && cutter.removed > 0 {
                let (cut, hidden, _) = c.counters.catalog().mcp_lists;
                c.counters.add(cut, 1);
                c.counters.add(hidden, cutter.removed as u64);
            }
        }
        if !end {
            self.mcp.listings.borrow_mut().push(l);
        }
    }
}

/// Logs and counts why an answer passes uncut, once per answer.
fn say_trouble(host: &dyn Host, c: &super::Configured, kind: Kind, cutter: &mut Cutter) {
    let Some(why) = cutter.trouble() else { return };
    c.counters.add(c.counters.catalog().mcp_lists.2, 1);
    host.log(
        LogLevel::Warn,
        &format!(
            "authgate: a {} answer passes uncut: {why}",
            kind.list_method()
        ),
    );
}
