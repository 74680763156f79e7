//! The host adapter, the only code that talks to Envoy: reads the plugin configuration, hands
//! the engine a view of the request headers, and applies its decision. Host calls go through
//! `hostcalls` so that every failure is handled (the trait helpers panic on non-UTF-8 values or
//! host errors) and handled closed: a request is never forwarded after a failed edit.

use crate::engine::{Decision, Engine};
use crate::request::RequestView;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { engine: None }) });
}}

struct Root {
    engine: Option<Rc<Engine>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, size: usize) -> bool {
        let json = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size) {
            Ok(bytes) => bytes.unwrap_or_default(),
            Err(status) => {
                log::error!("authgate: cannot read the plugin configuration: {status:?}");
                return false;
            }
        };
        match Engine::from_json(&json, secret()) {
            Ok(engine) => {
                self.engine = Some(Rc::new(engine));
                true
            }
            Err(e) => {
                log::error!("{e}");
                false
            }
        }
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter {
            engine: self.engine.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Keys the per-worker credential caches; WASI `random_get` is served by Envoy.
fn secret() -> [u8; 32] {
    let mut s = [0u8; 32];
    if getrandom::fill(&mut s).is_err() {
        // Still unique per worker start; the cache stays keyed, just less unpredictably.
        let now = hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        s[..16].copy_from_slice(&now.to_le_bytes());
    }
    s
}

struct Filter {
    engine: Option<Rc<Engine>>,
}

struct HostHeaders;

impl RequestView for HostHeaders {
    fn header(&self, name: &str) -> Option<String> {
        // A failed host call reads as an absent header: the engine then asks for credentials.
        let bytes = hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name).ok()??;
        Some(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    fn header_values(&self, name: &str) -> Vec<String> {
        let Ok(pairs) = hostcalls::get_map_bytes(MapType::HttpRequestHeaders) else {
            return Vec::new();
        };
        pairs
            .into_iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
            .collect()
    }
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let Some(engine) = &self.engine else {
            return fail_closed("the filter has no valid configuration");
        };
        match engine.decide(&HostHeaders) {
            Decision::Allow(edits) => {
                for name in &edits.remove {
                    if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None).is_err() {
                        return fail_closed("could not remove a request header");
                    }
                }
                for (name, value) in &edits.set {
                    if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
                        .is_err()
                    {
                        return fail_closed("could not set a request header");
                    }
                }
                Action::Continue
            }
            Decision::Deny(denied) => {
                log::debug!(
                    "authgate: denied rule={} provider={} error={}",
                    denied.rule,
                    denied.provider.as_deref().unwrap_or("-"),
                    denied.denial.code()
                );
                let r = &denied.reply;
                let headers = r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                if let Err(status) =
                    hostcalls::send_http_response(r.status.into(), headers, Some(r.body.as_bytes()))
                {
                    log::error!("authgate: could not send the local reply: {status:?}");
                }
                Action::Pause
            }
        }
    }
}

/// Answers 500 and stops the request: used when the filter cannot do its job.
fn fail_closed(why: &str) -> Action {
    log::error!("authgate: refusing request: {why}");
    let body = "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500,\
                \"detail\":\"Authentication is unavailable.\",\"error\":\"internal_error\"}";
    let _ = hostcalls::send_http_response(
        500,
        vec![("content-type", "application/problem+json")],
        Some(body.as_bytes()),
    );
    Action::Pause
}
