//! One stream as the module keeps it, and what a worker thread does between decisions: each
//! thread keeps its own `Worker` per configuration (as each wasm VM does), reads the answers
//! left for it, ticks when a tick is due, and hands decisions reached for held requests to
//! their streams, each woken by its scheduler to carry its own out (carrying one out from
//! another stream's hook would run that stream's filter chain inside this one's).

use super::abi::*;
use super::calls::{SendPtr, EVENT_WAKE};
use super::config::Config;
use super::host::{CallsTo, NativeHost};
use authgate::capabilities::Host;
use authgate::driver;
use authgate::worker::{Verdicts, Worker, TICK_MS};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

/// A thread's worker for one configuration, and when it last ticked.
pub struct Local {
    generation: u64,
    /// The configuration's calls, which say when it is destroyed.
    calls: Arc<super::calls::Calls>,
    pub worker: Worker,
    last_tick: Cell<u64>,
}

/// One stream.
pub struct Stream {
    pub config: Arc<Config>,
    pub local: Rc<Local>,
    pub id: u32,
    /// Envoy's pointer for this filter, valid until `filter_destroy`.
    pub filter: EnvoyPtr,
    /// The calls made from this stream, by Envoy's callout id, with the core's token.
    pub callouts: RefCell<Vec<(u64, u32)>>,
    /// The core's driver for this stream's life.
    pub drive: driver::Stream,
    /// Made when the stream is first held; deleted with the stream.
    scheduler: Cell<*mut std::os::raw::c_void>,
}

thread_local! {
    /// This thread's workers, one per live configuration (newest last): each lives as long
    /// as its configuration, however many an Envoy holds (a listener or route of its own per
    /// filter, as Envoy Gateway writes them), so no request ever rebuilds one or its caches.
    static WORKERS: RefCell<Vec<Rc<Local>>> = const { RefCell::new(Vec::new()) };
    /// This thread's live streams, by id.
    static LIVE: RefCell<Vec<(u32, *const Stream)>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u32> = const { Cell::new(1) };
}

impl Stream {
    /// A new stream of `config` on this thread; `None` when the worker cannot be configured.
    pub fn open(config: Arc<Config>, filter: EnvoyPtr) -> Option<Box<Stream>> {
        let host = NativeHost {
            filter,
            config: &config,
            calls: CallsTo::Worker(&config.calls),
        };
        let local = local_for(&config, &host)?;
        let id = NEXT_ID.with(|n| {
            let id = n.get();
            n.set(id.wrapping_add(1).max(1));
            id
        });
        let s = Box::new(Stream {
            config,
            local,
            id,
            filter,
            callouts: RefCell::new(Vec::new()),
            drive: driver::Stream::new(id),
            scheduler: Cell::new(std::ptr::null_mut()),
        });
        LIVE.with(|l| l.borrow_mut().push((id, &*s as *const Stream)));
        Some(s)
    }

    /// The host for deciding this stream: its calls are its own.
    pub fn host(&self) -> NativeHost<'_> {
        NativeHost {
            filter: self.filter,
            config: &self.config,
            calls: CallsTo::Stream(&self.callouts),
        }
    }

    /// The host for the worker's own work in this stream's hook: its calls are the worker's.
    fn worker_host(&self) -> NativeHost<'_> {
        NativeHost {
            calls: CallsTo::Worker(&self.config.calls),
            ..self.host()
        }
    }

    pub fn worker(&self) -> &Worker {
        &self.local.worker
    }

    /// Lets answers and ticks wake the stream (held for its verdict, or one whose body is
    /// awaited and decided by the tick when it does not come in time), until its verdict is
    /// carried out. `false` when Envoy gives it no scheduler (then it must not wait).
    pub fn wakeable(&self) -> bool {
        if self.scheduler.get().is_null() {
            let s = super::envoy::scheduler_new(self.filter);
            if s.is_null() {
                return false;
            }
            self.scheduler.set(s);
        }
        self.config
            .calls
            // SAFETY: this stream's scheduler, committed from other threads as the ABI allows
            // (the waker is removed before the scheduler is deleted).
            .hold(self.id, unsafe { SendPtr::new(self.scheduler.get()) });
        true
    }

    /// Woken: carries out the verdict parked for the stream, if one was reached; then no
    /// answer or tick wakes it any more.
    pub fn resume(&self, filter: EnvoyPtr) {
        let mut fx = super::effects::Fx {
            filter,
            stream: Some(self),
        };
        if self.drive.resume(self.worker(), &self.host(), &mut fx) {
            self.config.calls.release(self.id);
        }
    }

    /// No answer or tick wakes the stream any more: only one that was ever made wakeable takes
    /// the shared lock for it, so a request decided at once never does.
    pub fn unhook(&self) {
        if !self.scheduler.get().is_null() {
            self.config.calls.release(self.id);
        }
    }

    fn wake(&self) {
        let s = self.scheduler.get();
        if !s.is_null() {
            // SAFETY: this stream's scheduler, alive until it is destroyed.
            unsafe { super::envoy::scheduler_commit(SendPtr::new(s), EVENT_WAKE) };
        }
    }

    /// The worker's work due in this stream's hook: the answers left for this thread, the
    /// tick if one is due; decisions it reaches go to their streams.
    pub fn service(&self) {
        let host = self.worker_host();
        self.config.add_counted_later(&host);
        deliver(self.worker(), self.local.service(&host));
    }

    /// The answer to a call this stream made; decisions it reaches go to their streams.
    pub fn answered(&self, callout_id: u64, status: Option<&str>, body: &[u8]) {
        let token = {
            let mut c = self.callouts.borrow_mut();
            let Some(i) = c.iter().position(|(id, _)| *id == callout_id) else {
                return;
            };
            c.swap_remove(i).1
        };
        let decided =
            self.worker()
                .on_http_call_response(&self.host(), (token, Some(self.id)), status, body);
        deliver(self.worker(), decided);
    }
}

impl Local {
    /// The answers left for this thread, then the tick if one is due: the held requests these
    /// decide.
    fn service(&self, host: &NativeHost) -> Verdicts {
        let mut decided = Vec::new();
        for m in host.config.calls.take_mail() {
            decided.extend(self.worker.on_http_call_response(
                host,
                (m.token, None),
                m.status.as_deref(),
                &m.body,
            ));
        }
        let now = host.now_ms();
        if now >= self.last_tick.get().saturating_add(TICK_MS) {
            self.last_tick.set(now);
            decided.extend(self.worker.on_tick(host));
        }
        decided
    }
}

/// The main thread's part, in the configuration's scheduled hook or a call's answer: its own
/// worker reads its answers and ticks, so key sets are fetched and refreshed on time whether
/// or not requests come (it holds no request, so decides none).
pub fn service_main(config: &Config) {
    let host = NativeHost {
        filter: std::ptr::null_mut(),
        config,
        calls: CallsTo::Worker(&config.calls),
    };
    if let Some(local) = local_for(config, &host) {
        let _ = local.service(&host);
    }
    config.calls.send_queued();
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.unhook();
        // A verdict parked for a stream destroyed before it was carried out goes with it.
        let _ = self.worker().take_parked(self.id);
        let me = self as *const Stream;
        LIVE.with(|l| l.borrow_mut().retain(|(_, p)| *p != me));
        let s = self.scheduler.get();
        if !s.is_null() {
            // SAFETY: the scheduler this stream made, deleted once, after its waker is gone.
            unsafe { super::envoy::scheduler_delete(s) };
        }
    }
}

/// Parks each verdict with `worker` and wakes its stream on this thread, which carries it out
/// in its own hook; one that is gone is skipped (its verdict is forgotten when it ends).
fn deliver(worker: &Worker, decided: Verdicts) {
    for id in worker.park(decided) {
        let Some(p) = LIVE.with(|l| l.borrow().iter().find(|(i, _)| *i == id).map(|(_, p)| *p))
        else {
            // Gone: nothing will carry it out.
            let _ = worker.take_parked(id);
            continue;
        };
        // SAFETY: a live stream of this thread (removed from LIVE when dropped).
        let s = unsafe { &*p };
        s.wake();
    }
}

/// This thread's worker for `config`, configured on first use.
fn local_for(config: &Config, host: &NativeHost) -> Option<Rc<Local>> {
    WORKERS.with(|w| {
        let mut w = w.borrow_mut();
        if let Some(l) = w.iter().find(|l| l.generation == config.generation) {
            return Some(l.clone());
        }
        // Configurations Envoy destroyed (their streams are gone) let go of their workers.
        w.retain(|l| !l.calls.is_gone());
        let local = Rc::new(Local {
            generation: config.generation,
            calls: Arc::clone(&config.calls),
            worker: Worker::sharing_audit(config.audit.clone()),
            last_tick: Cell::new(0),
        });
        local.worker.configure(host, &config.json)?;
        w.push(local.clone());
        Some(local)
    })
}
