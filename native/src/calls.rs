//! Calls a worker makes on its own behalf (key-set fetches, discovery, introspection started by
//! the tick), and the tick. The ABI gives an HTTP filter calls whose answers die with its
//! stream, and no timers; so a worker's own calls go through the configuration, whose calls
//! and scheduler live on Envoy's main thread: the worker queues the call and wakes the main
//! thread, which sends it; the answer is left as mail for the worker's thread, and a request
//! held there is woken to read it. A small thread, every tick, wakes the main thread (whose own
//! worker then ticks: key sets are refreshed with no traffic) and every held request (decided
//! by its deadline even when nothing else happens).

use super::abi::*;
use super::envoy;
use authgate::capabilities::Callout;
use authgate::worker::TICK_MS;
use std::os::raw::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;

/// A pointer handed between threads where the ABI says that is safe (a scheduler's commit).
/// Made only by [`SendPtr::new`], whose caller promises that.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendPtr(*mut c_void);

impl SendPtr {
    /// Wraps `p` to cross threads.
    ///
    /// # Safety
    /// `p` is only ever passed to the ABI's thread-safe calls (a scheduler's commit) from
    /// another thread, and used otherwise only on the thread that made it.
    pub unsafe fn new(p: *mut c_void) -> SendPtr {
        SendPtr(p)
    }

    /// The pointer.
    pub fn get(self) -> *mut c_void {
        self.0
    }
}
// SAFETY: only passed to the ABI's thread-safe calls (scheduler commit), or used on the thread
// that owns it.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// A token for a call, unique in the process: the core matches answers by it.
pub fn token() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed).max(1)
}

/// An answer waiting for the worker thread that asked (`status` `None`: no answer).
pub struct Mail {
    pub token: u32,
    pub status: Option<String>,
    pub body: Vec<u8>,
}

struct Queued {
    thread: ThreadId,
    token: u32,
    cluster: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout_ms: u64,
}

/// A held request that can be woken: its thread, its id and its scheduler.
struct Waker {
    thread: ThreadId,
    id: u32,
    scheduler: SendPtr,
}

#[derive(Default)]
struct State {
    queue: Vec<Queued>,
    /// Sent calls: Envoy's callout id, the asking thread, the core's token.
    pending: Vec<(u64, ThreadId, u32)>,
    mail: Vec<(ThreadId, Mail)>,
    wakers: Vec<Waker>,
    closed: bool,
}

/// The event a woken stream is scheduled with.
pub const EVENT_WAKE: u64 = 1;
/// The configuration's scheduled events: calls queued (0), the tick.
pub const EVENT_TICK: u64 = 1;
/// At most this many answers wait for one thread; older ones go (a lease then times out and
/// its fetch is made again).
const MAIL_PER_THREAD: usize = 64;

/// One configuration's calls.
pub struct Calls {
    config: SendPtr,
    scheduler: SendPtr,
    /// How many answers wait, so a request finds out without taking the lock.
    waiting: AtomicUsize,
    /// The configuration was destroyed: each thread lets go of its worker for it.
    gone: AtomicBool,
    state: Mutex<State>,
}

impl Calls {
    /// Made in `config_new`, on the main thread, with Envoy's configuration pointer.
    pub fn new(config: EnvoyPtr) -> Arc<Calls> {
        let scheduler = envoy::config_scheduler_new(config);
        let calls = Arc::new(Calls {
            // SAFETY: Envoy's configuration pointer, used only on the main thread (its
            // callouts); its scheduler, committed from any thread as the ABI allows.
            config: unsafe { SendPtr::new(config) },
            // SAFETY: as above.
            scheduler: unsafe { SendPtr::new(scheduler) },
            waiting: AtomicUsize::new(0),
            gone: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        });
        let ticking = Arc::clone(&calls);
        let started = std::thread::Builder::new()
            .name("authgate-tick".into())
            .spawn(move || ticking.tick());
        if started.is_err() {
            super::host::log(
                authgate::capabilities::LogLevel::Error,
                "authgate: could not start the tick thread; key sets are fetched and held requests decided only as requests come",
            );
        }
        calls
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere with the lock held leaves lists that are still well formed.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `call` for the main thread, from a worker thread; the answer comes back as mail
    /// for this thread under the returned token.
    pub fn send(&self, call: &Callout) -> Result<u32, String> {
        if self.scheduler.get().is_null() {
            return Err("Envoy gave the configuration no scheduler".into());
        }
        let token = token();
        let mut st = self.state();
        if st.closed {
            return Err("the configuration is gone".into());
        }
        st.queue.push(Queued {
            thread: std::thread::current().id(),
            token,
            cluster: call.cluster.to_string(),
            headers: call.owned_headers(),
            body: call.body.map(<[u8]>::to_vec),
            timeout_ms: call.timeout_ms,
        });
        // SAFETY: the configuration's scheduler, deleted by `close` only under this lock, after
        // which nothing commits; commit is thread-safe.
        unsafe { envoy::config_scheduler_commit(self.scheduler, 0) };
        Ok(token)
    }

    /// Sends the queued calls: on the main thread, in `config_scheduled`. One Envoy refuses
    /// at once is answered "no answer" to its thread.
    pub fn send_queued(&self) {
        let queue = std::mem::take(&mut self.state().queue);
        for out in queue {
            let sent = envoy::config_callout(
                self.config.get(),
                &envoy::Outgoing {
                    cluster: &out.cluster,
                    headers: &out.headers,
                    body: out.body.as_deref(),
                    timeout_ms: out.timeout_ms,
                },
            );
            match sent {
                Ok(id) => self.state().pending.push((id, out.thread, out.token)),
                Err(r) => {
                    super::host::log(
                        authgate::capabilities::LogLevel::Warn,
                        &format!(
                            "authgate: Envoy refused a call to cluster {} (callout result {r})",
                            out.cluster
                        ),
                    );
                    self.post(
                        out.thread,
                        Mail {
                            token: out.token,
                            status: None,
                            body: Vec::new(),
                        },
                    );
                }
            }
        }
    }

    /// The answer to callout `id`: on the main thread, in `config_http_callout_done`. `true`
    /// when it is for the main thread's own worker.
    pub fn answered(&self, id: u64, status: Option<String>, body: Vec<u8>) -> bool {
        let found = {
            let mut st = self.state();
            let at = st.pending.iter().position(|(c, _, _)| *c == id);
            at.map(|i| st.pending.swap_remove(i))
        };
        let Some((_, thread, token)) = found else {
            return false;
        };
        self.post(
            thread,
            Mail {
                token,
                status,
                body,
            },
        );
        thread == std::thread::current().id()
    }

    fn post(&self, thread: ThreadId, mail: Mail) {
        let mut st = self.state();
        if st.mail.iter().filter(|(t, _)| *t == thread).count() >= MAIL_PER_THREAD {
            if let Some(i) = st.mail.iter().position(|(t, _)| *t == thread) {
                st.mail.remove(i);
                self.waiting.fetch_sub(1, Ordering::Relaxed);
            }
        }
        st.mail.push((thread, mail));
        self.waiting.fetch_add(1, Ordering::Relaxed);
        // A held request on that thread reads it now; otherwise the thread's next request does.
        if let Some(w) = st.wakers.iter().find(|w| w.thread == thread) {
            // SAFETY: a waker's scheduler is deleted only after it is removed, under this lock.
            unsafe { envoy::scheduler_commit(w.scheduler, EVENT_WAKE) };
        }
    }

    /// The answers waiting for this thread.
    pub fn take_mail(&self) -> Vec<Mail> {
        if self.waiting.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        let me = std::thread::current().id();
        let mut st = self.state();
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut st.mail)
            .into_iter()
            .partition(|(t, _)| *t == me);
        st.mail = rest;
        self.waiting.fetch_sub(mine.len(), Ordering::Relaxed);
        mine.into_iter().map(|(_, m)| m).collect()
    }

    /// Request `id` on this thread is held: wake it with each answer for this thread and each
    /// tick, until [`Calls::release`]. Holding it again keeps one waker.
    pub fn hold(&self, id: u32, scheduler: SendPtr) {
        let me = std::thread::current().id();
        let mut st = self.state();
        st.wakers.retain(|w| !(w.thread == me && w.id == id));
        st.wakers.push(Waker {
            thread: me,
            id,
            scheduler,
        });
    }

    /// Request `id` on this thread is no longer held; its scheduler may be deleted after this.
    pub fn release(&self, id: u32) {
        let me = std::thread::current().id();
        self.state()
            .wakers
            .retain(|w| !(w.thread == me && w.id == id));
    }

    /// Every tick until the configuration goes: the main thread's worker ticks, and each held
    /// request is woken, so it is decided on its deadline.
    fn tick(&self) {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(TICK_MS));
            let st = self.state();
            if st.closed {
                return;
            }
            if !self.scheduler.get().is_null() {
                // SAFETY: as in `send`.
                unsafe { envoy::config_scheduler_commit(self.scheduler, EVENT_TICK) };
            }
            for w in &st.wakers {
                // SAFETY: as in `post`.
                unsafe { envoy::scheduler_commit(w.scheduler, EVENT_WAKE) };
            }
        }
    }

    /// Whether the configuration was destroyed (no lock: every new stream asks).
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// The configuration is destroyed (main thread; its streams are gone): no more calls.
    pub fn close(&self) {
        self.gone.store(true, Ordering::Release);
        let mut st = self.state();
        st.closed = true;
        st.queue.clear();
        st.mail.clear();
        if !self.scheduler.get().is_null() {
            // SAFETY: the scheduler config_new made, deleted once.
            unsafe { envoy::config_scheduler_delete(self.scheduler) };
        }
    }
}
