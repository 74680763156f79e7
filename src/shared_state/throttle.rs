//! The throttle's per-client records in shared data: read to decide whether a client is
//! blocked, updated by compare-and-swap when one of its credentials is refused, so that
//! workers counting failures of one client at once never lose a count.

use super::update;
use crate::capabilities::Host;
use crate::engine::Decision;
use crate::error::Denial;
use crate::throttle::{Record, Throttle};

/// Where one client's record lives.
pub struct ClientSlot {
    /// The client's address without the port.
    pub ip: String,
    /// The shared-data key of its slot.
    pub key: String,
}

impl ClientSlot {
    /// The slot of `ip`, numbered by a keyed hash (see [`crate::throttle::slot`]).
    pub fn new(ip: &str, slot: u32) -> Self {
        ClientSlot {
            ip: ip.to_string(),
            key: format!("authgate.throttle.{slot}"),
        }
    }

    /// `Some(seconds to wait)` when the client is over the limit at `now` (seconds).
    pub fn blocked(&self, host: &dyn Host, t: &Throttle, now: u64) -> Option<u64> {
        let record = host
            .shared_get(&self.key)
            .and_then(|s| s.value)
            .and_then(|v| Record::decode(&v));
        t.blocked(record, &self.ip, now)
    }

    /// Counts one more failure of the client at `now` (seconds).
    pub fn record_failure(&self, host: &dyn Host, t: &Throttle, now: u64) {
        update(host, &self.key, 4, |v| {
            t.fail(v.and_then(Record::decode), &self.ip, now).encode()
        });
    }
}

/// Refused credentials count towards the throttle; missing ones do not (a browser's first
/// request has none), nor do expired tokens (a client that forgot to refresh is no attacker).
pub fn counts_as_failure(decision: &Decision) -> bool {
    let denied = match decision {
        Decision::Deny(d) => Some(d.as_ref()),
        Decision::Allow(a) => a.would_deny.as_deref(),
        Decision::Wait(_) | Decision::Answer(_) | Decision::ReadBody => None,
    };
    matches!(
        denied.map(|d| &d.denial),
        Some(Denial::InvalidCredentials(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fake::FakeHost;

    #[test]
    fn two_workers_counting_at_once_lose_nothing() {
        let t = Throttle::compile(3, 60).unwrap();
        let a = FakeHost::default();
        let b = FakeHost::with_store(a.store.clone());
        let slot = || ClientSlot::new("10.0.0.9", 7);
        slot().record_failure(&a, &t, 1000);
        assert_eq!(slot().blocked(&b, &t, 1001), None);
        // Worker b counts a failure between worker a's read and its write: a retries.
        let other = FakeHost::with_store(a.store.clone());
        *a.before_next_cas.borrow_mut() = Some(Box::new(move |_| {
            slot().record_failure(&other, &t, 1000);
        }));
        slot().record_failure(&a, &t, 1000);
        assert!(
            slot().blocked(&b, &t, 1001).is_some(),
            "three failures counted"
        );
        assert_eq!(slot().blocked(&b, &t, 1200), None, "decayed");
    }

    #[test]
    fn which_refusals_count() {
        let e = crate::Engine::from_json(
            br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "s"}]}}}"#,
            [0; 32],
        )
        .unwrap();
        let decide = |h: &[(&str, &str)]| e.decide(&crate::HeaderList::new("GET", "/", h), 0);
        assert!(counts_as_failure(&decide(&[("x-api-key", "wrong")])));
        assert!(!counts_as_failure(&decide(&[])));
        assert!(!counts_as_failure(&decide(&[("x-api-key", "s")])));
    }
}
