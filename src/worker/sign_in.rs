//! The token exchange of a sign-in, for the worker: one call per callback request, sent in
//! that request's context, whose answer decides that request alone (nothing is shared: a code
//! is good for one browser, once).

use crate::capabilities::{Callout, Host, LogLevel};
use crate::engine::{Decision, Engine};
use crate::providers::oidc::callback::Exchange;
use std::cell::RefCell;
use std::collections::HashMap;

/// A token request under way: the held request it decides, its provider, the sign-in.
struct InFlight {
    request: u32,
    provider: usize,
    exchange: Exchange,
}

/// The token requests under way, by call.
#[derive(Default)]
pub struct SignIns {
    calls: RefCell<HashMap<u32, InFlight>>,
}

impl SignIns {
    /// Sends the token request of `exchange` for request `request`; `Err` with the decision
    /// (the 503 page) when it cannot be sent.
    pub fn send(
        &self,
        host: &dyn Host,
        engine: &Engine,
        (request, provider): (u32, usize),
        exchange: &Exchange,
        now: u64,
    ) -> Result<(), Box<Decision>> {
        let Some(call) = engine.token_call(provider, exchange) else {
            return Err(Box::new(
                engine.finish_sign_in(provider, exchange, 0, b"", now).0,
            ));
        };
        let mut headers: Vec<(&str, &str)> = vec![
            (":method", "POST"),
            (":path", &call.path),
            (":authority", &call.authority),
        ];
        headers.extend(call.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let out = Callout {
            cluster: &call.cluster,
            scheme: call.scheme,
            headers,
            body: Some(call.body.as_bytes()),
            timeout_ms: call.timeout_ms,
        };
        match host.dispatch(&out) {
            Ok(token) => {
                let exchange = exchange.clone();
                self.calls.borrow_mut().insert(
                    token,
                    InFlight {
                        request,
                        provider,
                        exchange,
                    },
                );
                Ok(())
            }
            Err(why) => {
                host.log(
                    LogLevel::Error,
                    &format!(
                        "authgate: sign-in: cannot call cluster {} for the token endpoint: {why}",
                        call.cluster
                    ),
                );
                Err(Box::new(
                    engine.finish_sign_in(provider, exchange, 0, b"", now).0,
                ))
            }
        }
    }

    /// Whether request `request` waits for a token request.
    pub fn waits(&self, request: u32) -> bool {
        self.calls.borrow().values().any(|c| c.request == request)
    }

    /// The answer to call `token`, if it was a token request: the request it decides, and how.
    pub fn on_response(
        &self,
        engine: &Engine,
        token: u32,
        status: Option<&str>,
        body: &[u8],
        now: u64,
    ) -> Option<(u32, Decision, String, Result<String, String>)> {
        let c = self.calls.borrow_mut().remove(&token)?;
        let status = status.and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
        let (decision, provider, outcome) =
            engine.finish_sign_in(c.provider, &c.exchange, status, body, now);
        Some((c.request, decision, provider, outcome))
    }

    /// Request `request` ended: its token request's answer can no longer be used.
    pub fn abandon(&self, request: u32) {
        self.calls.borrow_mut().retain(|_, c| c.request != request);
    }
}
