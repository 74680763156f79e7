//! authgate as a proxy-wasm filter (`dist/authgate.wasm`): the host crate that talks to Envoy
//! through the proxy-wasm ABI (wasm32 only). It translates proxy-wasm callbacks into calls of the
//! core's [`Worker`] and carries out what comes back; it decides nothing. `calls.rs` implements
//! the core's [`authgate::capabilities::Host`] with host calls, `http.rs` is the per-request
//! context, `maps.rs` the raw host calls that report a failure instead of panicking.

#![cfg(target_arch = "wasm32")]

mod calls;
mod foreign;
mod http;
mod maps;

use authgate::worker::Worker;
use calls::HostCalls;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel, MapType};
use std::rc::Rc;
use std::time::Duration;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(Root { worker: Rc::new(Worker::default()) })
    });
}}

/// The root context: configuration, the tick and HTTP call answers.
struct Root {
    worker: Rc<Worker>,
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, headers: usize, body_size: usize, _: usize) {
        call_response(&self.worker, (token, None), headers, body_size);
    }
}

/// Hands the answer to call `token`, delivered in `context`, to the worker, and carries out
/// the decisions on the requests it releases. A call that failed (reset, closed before its
/// end, over Envoy's buffer for it) comes with no headers: it is handed over as no answer,
/// what a timeout is, and nothing of it is read.
pub fn call_response(
    worker: &Worker,
    (token, context): (u32, Option<u32>),
    headers: usize,
    body_size: usize,
) {
    let answered = headers > 0;
    let status = answered
        .then(|| {
            maps::get(MapType::HttpCallResponseHeaders, ":status")
                .ok()
                .flatten()
        })
        .flatten()
        .map(|s| String::from_utf8_lossy(&s).into_owned());
    let body = match status {
        Some(_) => maps::buffer(BufferType::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten()
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let decided =
        worker.on_http_call_response(&HostCalls, (token, context), status.as_deref(), &body);
    http::resume_all(worker, decided);
}

impl RootContext for Root {
    fn on_configure(&mut self, size: usize) -> bool {
        let json = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size) {
            Ok(bytes) => bytes.unwrap_or_default(),
            Err(status) => {
                log::error!("authgate: cannot read the plugin configuration: {status:?}");
                return false;
            }
        };
        // Envoy's own level for the wasm logger: lines it would drop are not even formatted.
        if let Ok(level) = hostcalls::get_log_level() {
            proxy_wasm::set_log_level(level);
        }
        match self.worker.configure(&HostCalls, &json) {
            Some(tick_ms) => {
                let _ = hostcalls::set_tick_period(Duration::from_millis(tick_ms));
                true
            }
            None => false,
        }
    }

    fn on_tick(&mut self) {
        let decided = self.worker.on_tick(&HostCalls);
        http::resume_all(&self.worker, decided);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(http::Filter::new(self.worker.clone(), context_id)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
