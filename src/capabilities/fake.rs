//! A scripted host for native tests: a clock the test moves, shared data with real
//! compare-and-swap semantics (one store may back several workers), recorded callouts,
//! counters and log lines, and a hook that lets another "worker" write between a read and a
//! conditional write, so races can be tested.

use super::{Callout, Host, LogLevel, Shared, SharedSetError};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Shared data as the proxy keeps it: value and a version that every write bumps.
pub type Store = Rc<RefCell<super::memory::SharedMap>>;

/// A dispatched call, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The token handed back.
    pub token: u32,
    /// The cluster.
    pub cluster: String,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Option<Vec<u8>>,
    /// The timeout.
    pub timeout_ms: u64,
}

type Hook = Box<dyn Fn(&Store)>;

/// The fake host of one worker.
pub struct FakeHost {
    /// The clock, in ms.
    pub now: Cell<u64>,
    /// Shared data (share it between two fakes to model two workers).
    pub store: Store,
    /// Calls dispatched.
    pub calls: RefCell<Vec<Recorded>>,
    /// Whether dispatching fails.
    pub dispatch_fails: Cell<bool>,
    /// Counter names by id, and their values.
    pub counters: RefCell<Vec<(String, u64)>>,
    /// Lines written.
    pub lines: RefCell<Vec<(LogLevel, String)>>,
    /// Lowest level written.
    pub level: Cell<LogLevel>,
    /// The current request's address.
    pub client: RefCell<String>,
    /// Runs once, just before the next conditional shared-data write.
    pub before_next_cas: RefCell<Option<Hook>>,
    /// The VM's environment variables.
    pub env: RefCell<Vec<(String, String)>>,
    /// The current request's client certificate SHA-256 (hex).
    pub peer_certificate: RefCell<Option<String>>,
    /// Whether `shared_add` is a plain write, as in Envoy's wasm shared data (the default
    /// fake creates only if absent, as the native module does).
    pub blind_add: Cell<bool>,
    next_token: Cell<u32>,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost::with_store(Store::default())
    }
}

impl FakeHost {
    /// A worker's host over `store`, at time 1,000,000 ms.
    pub fn with_store(store: Store) -> Self {
        FakeHost {
            now: Cell::new(1_000_000),
            store,
            calls: RefCell::default(),
            dispatch_fails: Cell::new(false),
            counters: RefCell::default(),
            lines: RefCell::default(),
            level: Cell::new(LogLevel::Info),
            client: RefCell::new("10.0.0.1:4000".into()),
            before_next_cas: RefCell::default(),
            env: RefCell::default(),
            peer_certificate: RefCell::default(),
            blind_add: Cell::new(false),
            next_token: Cell::new(1),
        }
    }

    /// Moves the clock.
    pub fn advance(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
    }

    /// A counter's value by name (0 when never moved).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }

    /// Lines written that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.lines
            .borrow()
            .iter()
            .filter(|(_, l)| l.contains(needle))
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Writes `key` as another worker would (unconditionally).
    pub fn write_as_other(store: &Store, key: &str, value: &[u8]) {
        let mut s = store.borrow_mut();
        let version = s.get(key).map_or(1, |(_, v)| v + 1);
        s.insert(key.to_string(), (value.to_vec(), version));
    }
}

impl Host for FakeHost {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }

    fn shared_get(&self, key: &str) -> Option<Shared> {
        Some(super::memory::get(&self.store.borrow(), key))
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedSetError> {
        if cas.is_some() {
            if let Some(hook) = self.before_next_cas.borrow_mut().take() {
                hook(&self.store);
            }
        }
        super::memory::set(&mut self.store.borrow_mut(), key, value, cas)
    }

    fn shared_add(&self, key: &str, value: &[u8]) -> Result<(), SharedSetError> {
        if let Some(hook) = self.before_next_cas.borrow_mut().take() {
            hook(&self.store);
        }
        if self.blind_add.get() {
            return super::memory::set(&mut self.store.borrow_mut(), key, value, None);
        }
        super::memory::add(&mut self.store.borrow_mut(), key, value)
    }

    fn adds_atomically(&self) -> bool {
        !self.blind_add.get()
    }

    fn dispatch(&self, call: &Callout) -> Result<u32, String> {
        if self.dispatch_fails.get() {
            return Err("BadArgument".into());
        }
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        self.calls.borrow_mut().push(Recorded {
            token,
            cluster: call.cluster.to_string(),
            headers: call.owned_headers(),
            body: call.body.map(<[u8]>::to_vec),
            timeout_ms: call.timeout_ms,
        });
        Ok(token)
    }

    fn define_counter(&self, name: &str) -> Option<u32> {
        let mut c = self.counters.borrow_mut();
        c.push((name.to_string(), 0));
        Some(c.len() as u32 - 1)
    }

    fn increment_counter(&self, id: u32, by: u64) {
        if let Some((_, v)) = self.counters.borrow_mut().get_mut(id as usize) {
            *v += by;
        }
    }

    fn log_enabled(&self, level: LogLevel) -> bool {
        level >= self.level.get()
    }

    fn log(&self, level: LogLevel, line: &str) {
        self.lines.borrow_mut().push((level, line.to_string()));
    }

    fn client_address(&self) -> String {
        self.client.borrow().clone()
    }

    fn peer_certificate_sha256(&self) -> Option<String> {
        self.peer_certificate.borrow().clone()
    }

    fn env_var(&self, name: &str) -> Option<String> {
        let env = self.env.borrow();
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn random(&self) -> Option<crate::capabilities::Random> {
        // Scripted: a counter, so tests can predict `state` and `nonce`.
        let n = std::rc::Rc::new(std::cell::Cell::new(0u8));
        Some(std::rc::Rc::new(move |out: &mut [u8]| {
            for b in out.iter_mut() {
                *b = n.get();
                n.set(n.get().wrapping_add(1));
            }
            true
        }))
    }

    fn random_key(&self) -> [u8; 32] {
        let n = self.next_token.get();
        self.next_token.set(n + 1);
        [n as u8; 32]
    }
}
