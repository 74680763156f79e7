//! One driver for a stream's life, for every host: request headers → (the body, when a rule
//! may need it) → a verdict carried out as upstream edits, a local reply, or a wait; the answer's
//! headers (a DPoP server nonce, a list answer's length) and body (a list cut to what the
//! caller may call); trailers that end a body; the body-size limit. A host implements
//! [`Effects`] — read and edit headers, send a reply, go on, read or replace a body, arrange a
//! wake-up — and maps [`Flow`] onto its own return codes; it decides nothing.

mod effects;
#[cfg(test)]
mod tests;

pub use effects::{Effects, Flow, Side};

use crate::capabilities::{Host, LogLevel};
use crate::engine::Verdict;
use crate::mcp::answer::Emit;
use crate::mcp::jsonrpc::MAX_BODY;
use crate::request::HeaderPairs;
use crate::worker::{Answer, Step, Worker};
use std::cell::Cell;

/// One stream as the driver keeps it between a host's hooks.
#[derive(Debug)]
pub struct Stream {
    id: u32,
    /// The answer's body goes through the core (a list cut to what the caller may call). A
    /// cell: a host may run one hook inside another (Envoy runs the answer's hooks inside
    /// the one that sent a local reply).
    watching: Cell<bool>,
}

impl Stream {
    /// Stream `id`, unique among the worker's live streams.
    pub fn new(id: u32) -> Stream {
        Stream {
            id,
            watching: Cell::new(false),
        }
    }

    /// The id the worker knows the stream by.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The request's headers arrived (`end_of_stream`: no body follows).
    pub fn request_headers(
        &self,
        worker: &Worker,
        host: &dyn Host,
        headers: HeaderPairs,
        end_of_stream: bool,
        fx: &mut dyn Effects,
    ) -> Flow {
        let step = match worker.on_request_headers(host, self.id, headers) {
            // No body will come: the core decides on an empty one.
            Step::ReadBody if end_of_stream => worker.on_request_body(host, self.id, Some(&[])),
            step => step,
        };
        let flow = match step {
            Step::Decided(v) => carry_out(v, false, fx),
            // Held: an answer or the tick decides, and the host is woken to carry it out.
            // Reading the body: the body hook decides, or the tick when it does not come.
            Step::Held | Step::ReadBody if fx.wait() => Flow::Stop,
            Step::Held | Step::ReadBody => fail_closed(fx, "the host gave no way to wait"),
            Step::Unconfigured => fail_closed(fx, "the filter has no valid configuration"),
        };
        flush(worker, host);
        flow
    }

    /// Part of the request's body arrived (`end_of_stream`: its last). Envoy buffers it until
    /// it ends or outgrows [`MAX_BODY`]; then it is read once. A request held for its verdict
    /// keeps its body: going on would send its stopped headers upstream.
    pub fn request_body(
        &self,
        worker: &Worker,
        host: &dyn Host,
        end_of_stream: bool,
        fx: &mut dyn Effects,
    ) -> Flow {
        if worker.holds(self.id) {
            return Flow::Buffer;
        }
        // Not once it was decided without it (the wait for it ran out).
        if !worker.reads_body(self.id) {
            return Flow::Continue;
        }
        let too_large = fx.body_size(Side::Request) > MAX_BODY;
        if !end_of_stream && !too_large {
            return Flow::Buffer;
        }
        let body = match too_large {
            true => None,
            false => match fx.body(Side::Request) {
                Some(b) => Some(b),
                None => return fail_closed(fx, "could not read the request body"),
            },
        };
        let step = worker.on_request_body(host, self.id, body.as_deref());
        self.after_body(worker, host, step, fx)
    }

    /// Trailers end a body that never said it ended (HTTP/2, gRPC-style clients): what Envoy
    /// buffered is the whole body, read as at its end.
    pub fn request_trailers(&self, worker: &Worker, host: &dyn Host, fx: &mut dyn Effects) -> Flow {
        if worker.holds(self.id) {
            return Flow::Stop;
        }
        if !worker.reads_body(self.id) {
            return Flow::Continue;
        }
        let body = match fx.body_size(Side::Request) > MAX_BODY {
            true => None,
            false => Some(fx.body(Side::Request).unwrap_or_default()),
        };
        let step = worker.on_request_body(host, self.id, body.as_deref());
        match self.after_body(worker, host, step, fx) {
            Flow::Continue => Flow::Continue,
            _ => Flow::Stop,
        }
    }

    /// What the core said once the body was read.
    fn after_body(
        &self,
        worker: &Worker,
        host: &dyn Host,
        step: Step,
        fx: &mut dyn Effects,
    ) -> Flow {
        let flow = match step {
            // The headers are stopped: going on from the body sends them (edited) with it.
            Step::Decided(v) => carry_out(v, false, fx),
            Step::Held if fx.wait() => Flow::Buffer,
            Step::Held => fail_closed(fx, "the host gave no way to wait"),
            Step::ReadBody => fail_closed(fx, "the body was asked for twice"),
            Step::Unconfigured => fail_closed(fx, "the filter has no valid configuration"),
        };
        flush(worker, host);
        flow
    }

    /// The host woke a held stream (an answer or the tick reached its verdict): carries the
    /// verdict out, if one is parked for it; going on is asked of the host, since its headers
    /// were stopped.
    pub fn resume(&self, worker: &Worker, host: &dyn Host, fx: &mut dyn Effects) -> bool {
        resume(worker, host, self.id, fx)
    }

    /// The answer's headers: those the verdict gave it (a DPoP server nonce), and whether its
    /// body goes through the core (then it may change length: `content-length` goes).
    pub fn response_headers(&self, worker: &Worker, host: &dyn Host, fx: &mut dyn Effects) -> Flow {
        for (name, value) in worker.answer_headers(self.id) {
            if !fx.add_response_header(&name, &value) {
                fx.log(
                    LogLevel::Warn,
                    &format!("authgate: could not add {name} to an answer"),
                );
            }
        }
        if !worker.awaits_answer(self.id) {
            return Flow::Continue;
        }
        let (ct, ce) = (
            fx.response_header("content-type"),
            fx.response_header("content-encoding"),
        );
        let answer = Answer {
            content_type: ct.as_deref(),
            content_encoding: ce.as_deref(),
            content_length: fx
                .response_header("content-length")
                .and_then(|n| n.trim().parse().ok()),
        };
        if worker.on_response_headers(host, self.id, answer) {
            self.watching.set(true);
            fx.set_response_header("content-length", None);
        }
        Flow::Continue
    }

    /// Part of the answer's body. A JSON answer is held by Envoy until it is whole, judged by
    /// its size until then (no copy of what Envoy holds); an event stream passes event by event.
    pub fn response_body(
        &self,
        worker: &Worker,
        host: &dyn Host,
        end_of_stream: bool,
        fx: &mut dyn Effects,
    ) -> Flow {
        if !self.watching.get() {
            return Flow::Continue;
        }
        let size = fx.body_size(Side::Response);
        if !end_of_stream && !worker.needs_bytes(self.id) {
            let emit = worker.on_response_progress(host, self.id, size);
            return self.emit(emit, size, fx);
        }
        let body = fx.body(Side::Response).unwrap_or_default();
        let emit = worker.on_response_body(host, self.id, &body, end_of_stream);
        self.watching.set(!end_of_stream);
        self.emit(emit, size, fx)
    }

    /// The answer ended with trailers. A JSON answer Envoy holds is still in reach: cut as at
    /// its end. What an event stream still holds (an event no blank line ended) cannot be
    /// sent, since trailers carry no body.
    pub fn response_trailers(
        &self,
        worker: &Worker,
        host: &dyn Host,
        fx: &mut dyn Effects,
    ) -> Flow {
        if !self.watching.get() {
            return Flow::Continue;
        }
        self.watching.set(false);
        let held = match worker.needs_bytes(self.id) {
            true => None,
            false => fx.body(Side::Response),
        };
        let size = held.as_ref().map_or(0, Vec::len);
        let emit = worker.on_response_trailers(host, self.id, held.as_deref());
        if let (Emit::Replace(out), true) = (emit, size > 0) {
            replace(fx, size, &out);
        }
        Flow::Continue
    }

    /// Carries out what the core said about an answer's body (`size`: what Envoy holds).
    fn emit(&self, emit: Emit, size: usize, fx: &mut dyn Effects) -> Flow {
        match emit {
            Emit::Hold => Flow::Buffer,
            Emit::Pass => {
                self.watching.set(false);
                Flow::Continue
            }
            Emit::Replace(out) => {
                replace(fx, size, &out);
                Flow::Continue
            }
        }
    }

    /// The stream ended (or was reset).
    pub fn done(&self, worker: &Worker, host: &dyn Host) {
        worker.on_request_done(host, self.id);
    }
}

/// [`Stream::resume`] for a host that keeps no [`Stream`] where it wakes one (proxy-wasm wakes
/// a request's context by its id).
/// Whether a verdict was carried out. Counts are handed over either way: a host is woken by
/// call answers that count without deciding.
pub fn resume(worker: &Worker, host: &dyn Host, id: u32, fx: &mut dyn Effects) -> bool {
    let verdict = worker.take_parked(id);
    let carried = verdict.is_some();
    if let Some(v) = verdict {
        carry_out(v, true, fx);
    }
    flush(worker, host);
    carried
}

/// Carries out `verdict`; `resume` when the request's headers were stopped.
fn carry_out(verdict: Verdict, resume: bool, fx: &mut dyn Effects) -> Flow {
    match verdict {
        Verdict::Allow(a) => {
            fx.allowed(&a);
            for name in &a.edits.remove {
                if !fx.set_request_header(name, None) {
                    return fail_closed(fx, "could not remove a request header");
                }
            }
            for (name, value) in &a.edits.set {
                if !fx.set_request_header(name, Some(value)) {
                    return fail_closed(fx, "could not set a request header");
                }
            }
            if resume {
                fx.resume();
            }
            Flow::Continue
        }
        Verdict::Deny(d) => {
            fx.send(&d.reply);
            Flow::Stop
        }
        Verdict::Answer(r) => {
            fx.send(&r);
            Flow::Stop
        }
    }
}

/// Replaces the answer's body Envoy holds (`size` bytes) with `out`.
fn replace(fx: &mut dyn Effects, size: usize, out: &[u8]) {
    if !fx.replace_body(Side::Response, size, out) {
        fx.log(
            LogLevel::Warn,
            "authgate: could not replace a list answer's body",
        );
    }
}

/// Answers 500 (gRPC: INTERNAL) and stops the request: the filter cannot do its job. Whether
/// the request is a gRPC call is read here, on this rare path, not on every request.
pub fn fail_closed(fx: &mut dyn Effects, why: &str) -> Flow {
    fx.log(
        LogLevel::Error,
        &format!("authgate: refusing request: {why}"),
    );
    let grpc = crate::reply::is_grpc(fx.request_header("content-type").as_deref());
    fx.send(&crate::reply::internal_error(grpc));
    Flow::Stop
}

/// Hands the counts to a host that has no tick of its own outside requests.
fn flush(worker: &Worker, host: &dyn Host) {
    if host.counts_each_decision() {
        worker.flush_counters(host);
    }
}
