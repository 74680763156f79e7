//! The worker threads: each keeps its own core `Worker` (as each Envoy worker keeps its own
//! filter state), decides the checks handed to it through the core's driver, keeps a held one
//! until its verdict comes (a call's answer or the tick), and ticks every `TICK_MS`.

use super::check::{incoming, Fx};
use super::fetch::{Answer, Client};
use super::host::{Calls, Counters, ServiceHost};
use authgate::capabilities::Host;
use authgate::driver::{self, Flow};
use authgate::worker::{Verdicts, Worker, TICK_MS};
use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A check for a worker thread, and where its answer goes.
struct Job {
    check: CheckRequest,
    answer: oneshot::Sender<CheckResponse>,
}

/// What a worker thread is handed.
enum Msg {
    Check(Box<Job>),
    /// A new configuration, already checked: the worker takes it between two checks.
    Configure(Vec<u8>),
    /// The answer to a remote call this thread made.
    Answer(Answer),
}

/// Checks a worker thread may have waiting: past this, a check is answered UNAVAILABLE at once
/// (Envoy's retry asks another replica) rather than queued past any timeout. Even a Basic
/// credential checked by bcrypt from scratch (~60 ms) is then answered within Envoy's usual
/// timeouts far more often than not, and checks Envoy gave up on are dropped unread.
const MAX_QUEUED: usize = 1024;

/// A worker thread's mailbox and how many checks wait in it.
struct Lane {
    tx: Sender<Msg>,
    queued: Arc<AtomicUsize>,
}

/// The worker threads, each fed in turn.
pub struct Pool {
    threads: Vec<Lane>,
    /// The threads not ready yet (`/ready` answers 200 at 0).
    unready: Arc<AtomicUsize>,
    next: AtomicUsize,
    counters: Arc<Counters>,
    debug: bool,
}

/// A check held for its verdict.
struct Held {
    stream: driver::Stream,
    fx: Fx,
    answer: oneshot::Sender<CheckResponse>,
}

impl Pool {
    /// `n` threads over configuration `json`; `Err` with the one line naming the field when
    /// the configuration is refused.
    pub fn start(
        json: &[u8],
        n: usize,
        counters: Arc<Counters>,
        debug: bool,
        client: Arc<Client>,
        metadata_claims: Arc<[String]>,
    ) -> Result<Pool, String> {
        // Compiled once here, so a bad configuration is refused before any thread starts.
        check(json, &host(&counters, debug))?;
        let mut threads = Vec::new();
        let unready = Arc::new(AtomicUsize::new(n.max(1)));
        for i in 0..n.max(1) {
            let (tx, rx) = mpsc::channel::<Msg>();
            let back = tx.clone();
            let calls = Calls {
                client: Arc::clone(&client),
                deliver: Arc::new(move |a| {
                    let _ = back.send(Msg::Answer(a));
                }),
                next: std::cell::Cell::new(1),
            };
            let (json, counters) = (json.to_vec(), Arc::clone(&counters));
            let unready = Arc::clone(&unready);
            let metadata_claims = Arc::clone(&metadata_claims);
            let queued = Arc::new(AtomicUsize::new(0));
            let waiting = Arc::clone(&queued);
            std::thread::Builder::new()
                .name(format!("authgate-worker-{i}"))
                .spawn(move || {
                    let host = ServiceHost {
                        calls: Some(calls),
                        metadata_claims,
                        ..host(&counters, debug)
                    };
                    run(&json, rx, &host, (&unready, &waiting))
                })
                .map_err(|e| format!("cannot start a worker thread: {e}"))?;
            threads.push(Lane { tx, queued });
        }
        Ok(Pool {
            threads,
            unready,
            next: AtomicUsize::new(0),
            counters,
            debug,
        })
    }

    /// Puts `json` in force on every thread, once it is checked; `Err` with the one line that
    /// says why not (the configuration in force stays).
    pub fn reload(&self, json: &[u8]) -> Result<(), String> {
        check(json, &host(&self.counters, self.debug))?;
        for t in &self.threads {
            let _ = t.tx.send(Msg::Configure(json.to_vec()));
        }
        Ok(())
    }

    /// How many threads are not ready yet: `/ready` waits for 0.
    pub fn unready(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.unready)
    }

    /// Decides `check` on the next thread; `Err` with why when none could.
    pub async fn check(&self, check: CheckRequest) -> Result<CheckResponse, &'static str> {
        let (answer, rx) = oneshot::channel();
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        let lane = self.threads.get(i).ok_or("authgate: no worker")?;
        if lane.queued.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED {
            lane.queued.fetch_sub(1, Ordering::Relaxed);
            return Err("authgate: overloaded, the check was not queued");
        }
        if lane
            .tx
            .send(Msg::Check(Box::new(Job { check, answer })))
            .is_err()
        {
            lane.queued.fetch_sub(1, Ordering::Relaxed);
            return Err("authgate: no worker answered");
        }
        rx.await.map_err(|_| "authgate: no worker answered")
    }
}

/// Whether `json` compiles, and asks nothing the service cannot do: the one line that says
/// why not (the line a worker would log). Cutting list answers needs the answer's body,
/// which a check never sees.
fn check(json: &[u8], probe: &ServiceHost) -> Result<(), String> {
    let env = |name: &str| probe.env_var(name);
    // The signature path the workers take: keys only the host verifies (ES384, ES512) count.
    let signatures = authgate::worker::signature_path(probe);
    let engine = authgate::Engine::from_json_with(json, [0; 32], signatures, &env, probe.random())
        .map_err(|e| e.to_string())?;
    match engine.config().mcp_lists.is_empty() {
        true => Ok(()),
        false => Err("authgate: invalid configuration: mcp.filter_lists: the ext_authz service cannot cut tools/list, prompts/list or resources/list answers (a check never sees the answer); set \"mcp\": {\"filter_lists\": false}, or put the wasm filter or the native module in front of this MCP server".into()),
    }
}

fn host(counters: &Arc<Counters>, debug: bool) -> ServiceHost {
    ServiceHost {
        calls: None,
        metadata_claims: Arc::from(Vec::new()),
        counters: Arc::clone(counters),
        debug,
        client: RefCell::new(String::new()),
        peer: RefCell::new(None),
        tls: RefCell::new(None),
    }
}

/// One worker thread: checks in, verdicts out, the tick between.
fn run(
    json: &[u8],
    jobs: mpsc::Receiver<Msg>,
    host: &ServiceHost,
    (unready, queued): (&AtomicUsize, &AtomicUsize),
) {
    let worker = Worker::default();
    if worker.configure(host, json).is_none() {
        return;
    }
    let started = Instant::now();
    let mut ready = false;
    let mut held: HashMap<u32, Held> = HashMap::new();
    let mut next_id: u32 = 1;
    let tick = Duration::from_millis(TICK_MS);
    let mut last_tick = Instant::now();
    loop {
        // The tick comes on time under load too: a thread that always has a check waiting
        // still hands over its counts and decides its held checks by their deadlines.
        let wait = tick.saturating_sub(last_tick.elapsed());
        let decided = match jobs.recv_timeout(wait) {
            Ok(Msg::Configure(json)) => {
                // Checked by the pool: held checks keep the verdicts they get.
                let _ = worker.configure(host, &json);
                Vec::new()
            }
            // Envoy gave up on it (its timeout, the client gone): nobody waits for the answer.
            Ok(Msg::Check(job)) if job.answer.is_closed() => {
                queued.fetch_sub(1, Ordering::Relaxed);
                Vec::new()
            }
            Ok(Msg::Check(job)) => {
                queued.fetch_sub(1, Ordering::Relaxed);
                let id = next_id;
                next_id = next_id.wrapping_add(1).max(1);
                // A panic drops the check's answer: Envoy gets UNAVAILABLE and fails closed.
                if let Some(Some(h)) = guarded(host, || decide(&worker, host, id, *job)) {
                    held.insert(id, h);
                }
                Vec::new()
            }
            Ok(Msg::Answer(a)) => {
                worker.on_http_call_response(host, (a.token, None), a.status.as_deref(), &a.body)
            }
            Err(RecvTimeoutError::Timeout) => Vec::new(),
            Err(RecvTimeoutError::Disconnected) => return,
        };
        guarded(host, || release(&worker, host, &mut held, decided));
        if !ready {
            ready = is_ready(&worker, host, started);
            if ready {
                unready.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if last_tick.elapsed() < tick {
            continue;
        }
        last_tick = Instant::now();
        guarded(host, || {
            let decided = worker.on_tick(host);
            release(&worker, host, &mut held, decided)
        });
    }
}

/// Runs `f`, catching a panic so that one check cannot take the replica down (the service is
/// built with unwinding, the `service` profile): the checks it was deciding lose their
/// answers, which Envoy reads as UNAVAILABLE, and a line says so.
fn guarded<T>(host: &ServiceHost, f: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(_) => {
            host.log(
                authgate::capabilities::LogLevel::Error,
                "authgate: a panic while deciding; the checks in hand are refused (UNAVAILABLE) and the service goes on",
            );
            None
        }
    }
}

/// Whether a thread is ready: it has every remote key set, or their first fetches had twice
/// their time and a second more (a key server down at start must not keep the replica out of
/// service: its tokens are refused, 401, until the keys come, and a line says so).
fn is_ready(worker: &Worker, host: &ServiceHost, started: Instant) -> bool {
    let Some((n, longest)) = worker.keys_awaited() else {
        return true;
    };
    if started.elapsed() < Duration::from_millis(2 * longest + 1000) {
        return false;
    }
    host.log(
        authgate::capabilities::LogLevel::Warn,
        &format!("authgate: ready without {n} remote key set(s): their first fetch failed; tokens they sign are refused until it succeeds"),
    );
    true
}

/// Answers the held checks `decided` settles.
fn release(worker: &Worker, host: &ServiceHost, held: &mut HashMap<u32, Held>, decided: Verdicts) {
    for id in worker.park(decided) {
        match held.remove(&id) {
            Some(mut h) => {
                h.stream.resume(worker, host, &mut h.fx);
                finish(worker, host, h);
            }
            None => {
                let _ = worker.take_parked(id);
            }
        }
    }
}

/// Decides one check; the check back when it is held for its verdict.
fn decide(worker: &Worker, host: &ServiceHost, id: u32, job: Job) -> Option<Held> {
    let incoming = incoming(&job.check);
    #[cfg(any(test, feature = "test-trap"))]
    #[allow(clippy::panic)]
    if incoming
        .headers
        .iter()
        .any(|(k, v)| k == ":path" && v == "/__authgate_trap")
    {
        panic!("test-trap: /__authgate_trap");
    }
    *host.client.borrow_mut() = incoming.client.clone();
    *host.peer.borrow_mut() = incoming.peer.clone();
    *host.tls.borrow_mut() = incoming.tls;
    let mut fx = Fx::new(&incoming, Arc::clone(&host.metadata_claims));
    let stream = driver::Stream::new(id);
    let has_body = incoming.body.is_some();
    let mut flow = stream.request_headers(worker, host, incoming.pairs(), !has_body, &mut fx);
    if flow == Flow::Stop && fx.reply.is_none() && worker.reads_body(id) {
        flow = stream.request_body(worker, host, true, &mut fx);
    }
    let h = Held {
        stream,
        fx,
        answer: job.answer,
    };
    match flow {
        Flow::Continue => {
            finish(worker, host, h);
            None
        }
        _ if h.fx.reply.is_some() => {
            finish(worker, host, h);
            None
        }
        _ => Some(h),
    }
}

/// Answers a check decided.
fn finish(worker: &Worker, host: &ServiceHost, h: Held) {
    let answer = worker.answer_headers(h.stream.id());
    h.stream.done(worker, host);
    let _ = h.answer.send(h.fx.response(answer));
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::ext_authz::v3::pb::HttpResponse;
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
    use envoy_types::pb::envoy::service::auth::v3::AttributeContext;

    fn check_of(path: &str, key: &str) -> CheckRequest {
        let http = HttpRequest {
            method: "GET".into(),
            path: path.into(),
            host: "api.test".into(),
            headers: [("x-api-key".to_string(), key.to_string())].into(),
            ..HttpRequest::default()
        };
        CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(Request {
                    http: Some(http),
                    ..Request::default()
                }),
                ..AttributeContext::default()
            }),
        }
    }

    #[tokio::test]
    async fn a_panic_fails_the_check_closed_and_the_service_goes_on() {
        let json = br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "k-1"}]}}}"#;
        let pool = Pool::start(
            json,
            1,
            Arc::new(Counters::default()),
            false,
            Arc::new(Client::new(&[]).unwrap()),
            Arc::from(Vec::new()),
        )
        .unwrap();
        assert!(pool
            .check(check_of("/__authgate_trap", "k-1"))
            .await
            .is_err());
        for (key, ok) in [("k-1", true), ("nope", false)] {
            let answer = pool.check(check_of("/x", key)).await.unwrap();
            let passed = matches!(answer.http_response, Some(HttpResponse::OkResponse(_)));
            assert_eq!(passed, ok, "{key}: {answer:?}");
        }
    }
}
