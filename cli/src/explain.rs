//! `authgate explain`: one request through the filter's own decision path — the core's
//! `Worker`, configured as in Envoy, over a native [`Host`] that keeps shared data in memory,
//! fixes the clock at `--now` and makes no network calls — then what it found and the reply
//! exactly as the filter would send it, or the header edits upstream would get.

use authgate::capabilities::memory::{self, SharedMap};
use authgate::capabilities::{Callout, Host, LogLevel, Shared, SharedSetError};
use authgate::engine::{Outcome, Verdict};
use authgate::worker::{Step, Worker};
use authgate::HeaderPairs;
use serde_json::json;
use std::cell::{Cell, RefCell};

/// The proxy as `explain` stands in for it.
pub struct CliHost<'a> {
    now_ms: u64,
    env: &'a dyn Fn(&str) -> Option<String>,
    store: RefCell<SharedMap>,
    next: Cell<u32>,
    /// Warning and error lines the core wrote (a refused configuration's line among them).
    pub lines: RefCell<Vec<String>>,
}

impl<'a> CliHost<'a> {
    /// A host at `now_ms` with the VM environment `env`.
    pub fn new(now_ms: u64, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        CliHost {
            now_ms,
            env,
            store: RefCell::default(),
            next: Cell::new(1),
            lines: RefCell::default(),
        }
    }
}

impl Host for CliHost<'_> {
    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn shared_get(&self, key: &str) -> Option<Shared> {
        Some(memory::get(&self.store.borrow(), key))
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedSetError> {
        memory::set(&mut self.store.borrow_mut(), key, value, cas)
    }

    /// No call leaves the CLI: the request waits, and `explain` says for what.
    fn dispatch(&self, _: &Callout) -> Result<u32, String> {
        let id = self.next.get();
        self.next.set(id + 1);
        Ok(id)
    }

    fn define_counter(&self, _: &str) -> Option<u32> {
        Some(0)
    }

    fn increment_counter(&self, _: u32, _: u64) {}

    fn log_enabled(&self, level: LogLevel) -> bool {
        level >= LogLevel::Warn
    }

    fn log(&self, level: LogLevel, line: &str) {
        if level >= LogLevel::Warn {
            self.lines.borrow_mut().push(line.to_string());
        }
    }

    fn client_address(&self) -> String {
        "127.0.0.1:50000".into()
    }

    fn random_key(&self) -> [u8; 32] {
        [7; 32]
    }

    fn random(&self) -> Option<authgate::capabilities::Random> {
        Some(crate::random())
    }

    fn env_var(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }
}

/// What `explain` was asked.
pub struct Request {
    /// The plugin configuration and its VM environment.
    pub found: crate::source::Found,
    /// `:method`.
    pub method: String,
    /// `:path`, query included.
    pub path: String,
    /// `-H` headers, as given.
    pub headers: Vec<(String, String)>,
    /// The clock (seconds).
    pub now: u64,
    /// `--jwks`: a key set for the providers that fetch one.
    pub jwks: Option<Vec<u8>>,
    /// `--body`: the request body, for rules with `match.mcp`.
    pub body: Option<Vec<u8>>,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn outcome(o: &Outcome) -> String {
    match o {
        Outcome::NotSent => "not sent".into(),
        Outcome::SentTwice => "sent more than once".into(),
        Outcome::Accepted { identity, scopes } => format!(
            "accepted: {}{}",
            identity.as_deref().unwrap_or("(no identity)"),
            if scopes.is_empty() {
                String::new()
            } else {
                format!(", scopes {}", scopes.join(" "))
            }
        ),
        Outcome::Refused(d) => format!("refused: {d}"),
        Outcome::Waiting(what) => format!("waits for {what}"),
    }
}

/// Runs `explain`; returns the exit status (0: decided; 1: the configuration is refused).
pub fn run(req: Request, json_out: bool) -> i32 {
    let env = |name: &str| req.found.var(name);
    let host = CliHost::new(req.now * 1000, &env);
    let worker = Worker::default();
    if worker.configure(&host, &req.found.config).is_none() {
        for l in host.lines.borrow().iter() {
            eprintln!("{}: {l}", req.found.label);
        }
        return 1;
    }
    let mut keys = Vec::new();
    if let Some(body) = &req.jwks {
        keys = worker.install_keys(body, req.now);
    }
    let mut pairs = vec![
        (":method".to_string(), req.method.clone().into_bytes()),
        (":path".to_string(), req.path.clone().into_bytes()),
    ];
    let given = |n: &str| req.headers.iter().any(|(k, _)| k == n);
    if !given(":authority") && !given("host") {
        pairs.push((":authority".into(), b"localhost".to_vec()));
    }
    if !given(":scheme") {
        pairs.push((":scheme".into(), b"http".to_vec()));
    }
    pairs.extend(
        req.headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes())),
    );
    let headers_only = HeaderPairs(pairs.clone());
    let read = req.body.as_ref().map(|b| {
        let within = b.len() <= authgate::mcp::jsonrpc::MAX_BODY;
        authgate::request::mcp_from(within.then_some(b.as_slice()), &headers_only)
    });
    let view = authgate::request::WithPeer {
        view: &headers_only,
        peer_certificate_sha256: None,
        connection_tls: None,
        mcp: read.as_ref(),
    };
    let explanation = worker.explain(&view, host.now_ms());
    let mut step = worker.on_request_headers(&host, 1, HeaderPairs(pairs));
    let mut needs_body = false;
    if let Step::ReadBody = step {
        match &req.body {
            Some(body) => {
                let within = body.len() <= authgate::mcp::jsonrpc::MAX_BODY;
                step = worker.on_request_body(&host, 1, within.then_some(body.as_slice()));
            }
            None => needs_body = true,
        }
    }
    let (mut status, mut headers, mut body, mut upstream) =
        (0u16, vec![], String::new(), json!(null));
    let mut held = false;
    match &step {
        Step::Decided(Verdict::Deny(d)) => {
            (status, headers, body) = (
                d.reply.status,
                d.reply.headers.clone(),
                d.reply.body.clone(),
            )
        }
        Step::Decided(Verdict::Answer(r)) => {
            (status, headers, body) = (r.status, r.headers.clone(), r.body.clone())
        }
        Step::Decided(Verdict::Allow(a)) => {
            upstream = json!({"remove": a.edits.remove, "set": a.edits.set, "identity": a.identity,
                              "would_deny": a.would_deny.as_ref().map(|w| w.denial.code())});
        }
        Step::Held | Step::ReadBody | Step::Unconfigured => held = !needs_body,
    }
    if json_out {
        let creds: Vec<_> = explanation
            .iter()
            .flat_map(|e| e.credentials.iter())
            .map(|(p, s, o)| json!({"provider": p, "scheme": s, "outcome": outcome(o)}))
            .collect();
        let out = json!({"rule": explanation.as_ref().map(|e| e.rule.clone()), "credentials": creds,
                         "held": held, "needs_body": needs_body, "status": status, "headers": headers, "body": body, "upstream": upstream});
        out!("{out}");
        return 0;
    }
    for (name, got) in keys {
        match got {
            Ok(n) => out!("key set: {n} keys installed for provider {name}"),
            Err(why) => out!("key set: not installed for provider {name}: {why}"),
        }
    }
    if let Some(e) = &explanation {
        out!("rule: {}", e.rule);
        for (p, s, o) in &e.credentials {
            out!("credential {p} ({s}): {}", outcome(o));
        }
    }
    if needs_body {
        out!("\na rule with match.mcp may apply: the filter would read the body first (give it with --body FILE)");
        return 0;
    }
    if held {
        out!("\nthe request would be held: it waits for something remote (the CLI fetches nothing; give key sets with --jwks)");
        return 0;
    }
    if status == 0 {
        out!("\npassed upstream");
        for h in upstream["remove"].as_array().into_iter().flatten() {
            out!("- {}", h.as_str().unwrap_or(""));
        }
        for kv in upstream["set"].as_array().into_iter().flatten() {
            out!(
                "+ {}: {}",
                kv[0].as_str().unwrap_or(""),
                kv[1].as_str().unwrap_or("")
            );
        }
        if let Some(code) = upstream["would_deny"].as_str() {
            out!("(report mode: enforcing would have refused it: {code})");
        }
        return 0;
    }
    out!("\nHTTP/1.1 {status} {}", reason(status));
    for (k, v) in &headers {
        out!("{k}: {v}");
    }
    out!("\n{body}");
    0
}
