//! Two floor filters for the benchmark, chosen by `root_id`: `pass` reads one request header
//! and continues (the least a credential filter does on a valid request), `deny` answers a
//! fixed 401 with a challenge and a ~250-byte JSON body (the least a refusal costs).

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType};

const BODY: &str = r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"This resource requires authentication, and no credentials were sent. Send one of the accepted credentials.","error":"missing_credentials","accepted":[{"scheme":"ApiKey","how":"x-api-key: <key>"}]}"#;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { deny: false }) });
}}

struct Root {
    deny: bool,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _: usize) -> bool {
        true
    }

    fn on_configure(&mut self, _: usize) -> bool {
        self.deny = matches!(
            hostcalls::get_property(vec!["plugin_root_id"]),
            Ok(Some(id)) if id == b"deny"
        );
        true
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Floor { deny: self.deny }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Floor {
    deny: bool,
}

impl Context for Floor {}

impl HttpContext for Floor {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let _ = hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, "x-api-key");
        if !self.deny {
            return Action::Continue;
        }
        let _ = hostcalls::send_http_response(
            401,
            vec![
                ("content-type", "application/problem+json"),
                ("www-authenticate", "ApiKey realm=\"api\", in=\"header\", name=\"x-api-key\""),
            ],
            Some(BODY.as_bytes()),
        );
        Action::Pause
    }
}
