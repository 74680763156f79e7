//! The driver's [`Effects`] over the ABI, for one stream inside one of its hooks: headers read
//! and edited, the local reply (a gRPC one trailers-only, as Envoy's own), going on, the
//! scheduler that wakes a held stream, and the bodies Envoy holds (buffered and just received).

use super::abi::*;
use super::envoy::{self, add_header, header, set_header};
use super::stream::Stream;
use authgate::capabilities::LogLevel;
use authgate::driver::{Effects, Flow, Side};
use authgate::reply::Reply;

/// One stream's effects; `stream` is `None` in a hook whose stream could not be had (then it
/// cannot wait).
pub struct Fx<'a> {
    pub filter: EnvoyPtr,
    pub stream: Option<&'a Stream>,
}

/// The driver's flow as a header hook's status.
pub fn headers_status(flow: Flow) -> u32 {
    match flow {
        Flow::Continue => HEADERS_CONTINUE,
        Flow::Stop | Flow::Buffer => HEADERS_STOP_ITERATION,
    }
}

/// The driver's flow as a body hook's status.
pub fn body_status(flow: Flow) -> u32 {
    match flow {
        Flow::Continue => BODY_CONTINUE,
        Flow::Stop => BODY_STOP_ITERATION_NO_BUFFER,
        Flow::Buffer => BODY_STOP_ITERATION_AND_BUFFER,
    }
}

/// The driver's flow as a trailers hook's status.
pub fn trailers_status(flow: Flow) -> u32 {
    match flow {
        Flow::Continue => TRAILERS_CONTINUE,
        Flow::Stop | Flow::Buffer => TRAILERS_STOP_ITERATION,
    }
}

impl Effects for Fx<'_> {
    fn request_header(&self, name: &str) -> Option<String> {
        header(self.filter, HDR_REQUEST, name)
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) -> bool {
        set_header(self.filter, HDR_REQUEST, name, value)
    }

    fn response_header(&self, name: &str) -> Option<String> {
        header(self.filter, HDR_RESPONSE, name)
    }

    fn add_response_header(&mut self, name: &str, value: &str) -> bool {
        add_header(self.filter, HDR_RESPONSE, name, value)
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) -> bool {
        set_header(self.filter, HDR_RESPONSE, name, value)
    }

    fn send(&mut self, reply: &Reply) {
        send(self.filter, reply)
    }

    fn resume(&mut self) {
        envoy::continue_decoding(self.filter);
    }

    fn wait(&mut self) -> bool {
        self.stream.is_some_and(Stream::wakeable)
    }

    fn body_size(&self, side: Side) -> usize {
        parts(self.filter, side)
            .into_iter()
            .map(|k| envoy::body_size(self.filter, k))
            .sum()
    }

    fn body(&self, side: Side) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for kind in parts(self.filter, side) {
            envoy::read_body(self.filter, kind, &mut out);
        }
        Some(out)
    }

    /// In a body hook the new bytes are the received body; in a trailers hook there is none,
    /// and they go to the buffer. A body that is absent has nothing to drain.
    fn replace_body(&mut self, side: Side, _held: usize, bytes: &[u8]) -> bool {
        let (received, buffered) = match side {
            Side::Request => (BODY_RECEIVED_REQUEST, BODY_BUFFERED_REQUEST),
            Side::Response => (BODY_RECEIVED_RESPONSE, BODY_BUFFERED_RESPONSE),
        };
        for k in parts(self.filter, side) {
            envoy::drain_body(self.filter, k);
        }
        envoy::append_body(self.filter, received, bytes)
            || envoy::append_body(self.filter, buffered, bytes)
    }

    fn log(&self, level: LogLevel, line: &str) {
        super::host::log(level, line);
    }
}

/// Which of one direction's buffered and received bodies hold distinct bytes: what it
/// buffered, then what just arrived (unless what arrived is the buffer, handed on by a filter
/// before this one).
fn parts(filter: EnvoyPtr, side: Side) -> Vec<u32> {
    let (request, buffered, received) = match side {
        Side::Request => (true, BODY_BUFFERED_REQUEST, BODY_RECEIVED_REQUEST),
        Side::Response => (false, BODY_BUFFERED_RESPONSE, BODY_RECEIVED_RESPONSE),
    };
    match envoy::received_is_buffered(filter, request) {
        true => vec![received],
        false => vec![buffered, received],
    }
}

/// Sends a local reply (a gRPC one trailers-only: [`authgate::reply::trailers_only`]).
fn send(filter: EnvoyPtr, r: &Reply) {
    let (status, headers, body) = authgate::reply::trailers_only(r);
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    envoy::send_response(filter, u32::from(status), &pairs, body.as_bytes());
}
