//! The per-request context: each proxy-wasm callback handed to the core's driver
//! ([`authgate::driver`]) with the request headers fetched in one host call, and the driver's
//! [`Effects`] carried out with host calls; [`Flow`] becomes an [`Action`].

use authgate::capabilities::{Host, LogLevel};
use authgate::driver::{self, Effects, Flow, Side};
use authgate::reply::Reply;
use authgate::request::HeaderPairs;
use authgate::worker::{Verdicts, Worker};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType, Status};
use std::rc::Rc;

use super::calls::HostCalls;
use super::maps;

#[link(wasm_import_module = "env")]
extern "C" {
    // The SDK's `resume_http_request` panics when the stream is gone; this returns the status.
    fn proxy_continue_stream(stream_type: u32) -> u32;
    // The SDK's `send_http_response`/`send_grpc_response` panic on a host error; this
    // returns the status.
    fn proxy_send_local_response(
        status_code: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
}

/// proxy-wasm's map encoding: the number of pairs, each pair's key and value sizes, then
/// each key and value followed by a NUL.
fn serialize(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// One request's context.
pub struct Filter {
    worker: Rc<Worker>,
    stream: driver::Stream,
}

impl Filter {
    pub fn new(worker: Rc<Worker>, id: u32) -> Self {
        Filter {
            worker,
            stream: driver::Stream::new(id),
        }
    }
}

/// The driver's flow as proxy-wasm's action: anything but going on pauses.
fn action(flow: Flow) -> Action {
    match flow {
        Flow::Continue => Action::Continue,
        Flow::Stop | Flow::Buffer => Action::Pause,
    }
}

impl Context for Filter {
    fn on_done(&mut self) -> bool {
        self.stream.done(&self.worker, &HostCalls);
        true
    }

    /// An introspection call made while this request's headers were decided is answered here
    /// (the SDK delivers an answer to the context that made the call).
    fn on_http_call_response(&mut self, token: u32, headers: usize, body_size: usize, _: usize) {
        let context = Some(self.stream.id());
        super::call_response(&self.worker, (token, context), headers, body_size);
    }
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        // One host call for every header beats one per header (measured with
        // BENCH_VARIANTS: +19% requests/s on the API key path).
        let headers = match maps::pairs(MapType::HttpRequestHeaders) {
            Ok(pairs) => HeaderPairs(pairs),
            Err(_) => {
                return action(driver::fail_closed(
                    &mut Fx::default(),
                    "could not read the request headers",
                ))
            }
        };
        #[cfg(feature = "test-trap")]
        if authgate::request::RequestView::header(&headers, ":path").as_deref()
            == Some("/__authgate_trap")
        {
            core::arch::wasm32::unreachable();
        }
        action(self.stream.request_headers(
            &self.worker,
            &HostCalls,
            headers,
            end_of_stream,
            &mut Fx::default(),
        ))
    }

    /// Envoy calls this after a paused header phase only with
    /// `allow_on_headers_stop_iteration`.
    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let mut fx = Fx::holding(body_size);
        action(
            self.stream
                .request_body(&self.worker, &HostCalls, end_of_stream, &mut fx),
        )
    }

    fn on_http_request_trailers(&mut self, _trailers: usize) -> Action {
        action(
            self.stream
                .request_trailers(&self.worker, &HostCalls, &mut Fx::default()),
        )
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        action(
            self.stream
                .response_headers(&self.worker, &HostCalls, &mut Fx::default()),
        )
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let mut fx = Fx::holding(body_size);
        action(
            self.stream
                .response_body(&self.worker, &HostCalls, end_of_stream, &mut fx),
        )
    }

    fn on_http_response_trailers(&mut self, _trailers: usize) -> Action {
        action(
            self.stream
                .response_trailers(&self.worker, &HostCalls, &mut Fx::default()),
        )
    }
}

/// Carries out verdicts reached for held requests, each in its own context; the verdict of a
/// request that is gone is dropped.
pub fn resume_all(worker: &Worker, decided: Verdicts) {
    for id in worker.park(decided) {
        match hostcalls::set_effective_context(id) {
            Ok(()) => driver::resume(worker, &HostCalls, id, &mut Fx::default()),
            // Gone: nothing will carry it out.
            Err(_) => worker.take_parked(id).is_some(),
        };
    }
}

/// The driver's effects on the current (effective) request, through host calls.
#[derive(Default)]
struct Fx {
    /// How many bytes of the body in this callback Envoy holds, as the callback said.
    body_size: Option<usize>,
}

impl Fx {
    fn holding(body_size: usize) -> Fx {
        Fx {
            body_size: Some(body_size),
        }
    }
}

fn buffer_of(side: Side) -> BufferType {
    match side {
        Side::Request => BufferType::HttpRequestBody,
        Side::Response => BufferType::HttpResponseBody,
    }
}

fn text(v: Option<Vec<u8>>) -> Option<String> {
    v.map(|v| String::from_utf8_lossy(&v).into_owned())
}

impl Effects for Fx {
    fn request_header(&self, name: &str) -> Option<String> {
        text(maps::get(MapType::HttpRequestHeaders, name).ok().flatten())
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) -> bool {
        match value {
            Some(v) => maps::set(MapType::HttpRequestHeaders, name, v).is_ok(),
            None => maps::remove(MapType::HttpRequestHeaders, name).is_ok(),
        }
    }

    fn response_header(&self, name: &str) -> Option<String> {
        text(maps::get(MapType::HttpResponseHeaders, name).ok().flatten())
    }

    fn add_response_header(&mut self, name: &str, value: &str) -> bool {
        maps::add(MapType::HttpResponseHeaders, name, value).is_ok()
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) -> bool {
        match value {
            Some(v) => maps::set(MapType::HttpResponseHeaders, name, v).is_ok(),
            None => maps::remove(MapType::HttpResponseHeaders, name).is_ok(),
        }
    }

    fn send(&mut self, reply: &Reply) {
        send(reply)
    }

    fn resume(&mut self) {
        // SAFETY: a plain host call with an integer argument.
        let status = unsafe { proxy_continue_stream(0) };
        if status != Status::Ok as u32 {
            log::debug!("authgate: a held request could not be resumed ({status})");
        }
    }

    /// proxy-wasm wakes a held request by its id ([`resume_all`]): nothing to arrange.
    fn wait(&mut self) -> bool {
        true
    }

    fn body_size(&self, side: Side) -> usize {
        match self.body_size {
            Some(n) => n,
            // Trailers say no size: what Envoy holds is read to measure it (a rare path).
            None => self.body(side).map_or(0, |b| b.len()),
        }
    }

    fn body(&self, side: Side) -> Option<Vec<u8>> {
        let max = self.body_size.unwrap_or(usize::MAX >> 1);
        maps::buffer(buffer_of(side), 0, max)
            .ok()
            .map(Option::unwrap_or_default)
    }

    fn replace_body(&mut self, side: Side, held: usize, bytes: &[u8]) -> bool {
        maps::set_buffer(buffer_of(side), 0, held, bytes).is_ok()
    }

    fn log(&self, level: LogLevel, line: &str) {
        HostCalls.log(level, line);
    }
}

/// Sends a local reply; the request stops here. A gRPC answer goes with its status (the
/// headers are its metadata, the message Envoy's `grpc-message`).
fn send(r: &Reply) {
    let (status, body, grpc_status) = match &r.grpc {
        Some(g) => (200, g.message.as_bytes(), g.code as i32),
        None => (u32::from(r.status), r.body.as_bytes(), -1),
    };
    let headers = serialize(&r.headers);
    // SAFETY: pointers and sizes of live buffers, for the duration of the call.
    let result = unsafe {
        proxy_send_local_response(
            status,
            core::ptr::null(),
            0,
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            grpc_status,
        )
    };
    if result != Status::Ok as u32 {
        log::error!("authgate: could not send the local reply: {result}");
    }
}
