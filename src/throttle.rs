//! Brute-force throttling: after `max_failures` refused credentials from one client address
//! within about `window_seconds`, that address gets 429 until its count decays. The count is
//! a sliding-window estimate (the previous window weighted by how much of it still overlaps),
//! kept per client in proxy-wasm shared data by the host so all workers see the same count.

use crate::error::ConfigError;

/// `throttle` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Failures allowed within a window.
    pub max_failures: u32,
    /// The window, in seconds.
    pub window: u64,
}

/// One client's failure counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The client address the record belongs to.
    pub client: String,
    /// Start of the current window (seconds).
    pub start: u64,
    /// Failures in the current window.
    pub current: u32,
    /// Failures in the window before it.
    pub previous: u32,
}

impl Record {
    /// `client start current previous`.
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{} {} {} {}",
            self.client, self.start, self.current, self.previous
        )
        .into_bytes()
    }

    /// Parses [`Record::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let s = std::str::from_utf8(bytes).ok()?;
        let mut it = s.split(' ');
        Some(Record {
            client: it.next()?.to_string(),
            start: it.next()?.parse().ok()?,
            current: it.next()?.parse().ok()?,
            previous: it.next()?.parse().ok()?,
        })
    }
}

impl Throttle {
    /// Validates `throttle`.
    pub fn compile(max_failures: u32, window: u64) -> Result<Self, ConfigError> {
        if max_failures == 0 {
            return Err(ConfigError::new(
                "throttle.max_failures",
                "must be at least 1",
            ));
        }
        if !(1..=86_400).contains(&window) {
            return Err(ConfigError::new(
                "throttle.window_seconds",
                "must be 1 to 86400",
            ));
        }
        Ok(Throttle {
            max_failures,
            window,
        })
    }

    /// `record` moved to the window that holds `now`, for `client`. A record of another
    /// client in the same slot (a hash collision, rare with a keyed hash and 16,384 slots)
    /// neither blocks this client nor survives its next failure.
    fn current(&self, record: Option<Record>, client: &str, now: u64) -> Record {
        let mut r = match record {
            Some(r) if r.client == client => r,
            _ => Record {
                client: client.to_string(),
                start: now - now % self.window,
                ..Record::default()
            },
        };
        let elapsed_windows = now.saturating_sub(r.start) / self.window;
        if elapsed_windows >= 2 {
            r.previous = 0;
            r.current = 0;
        } else if elapsed_windows == 1 {
            r.previous = r.current;
            r.current = 0;
        }
        r.start = now - now % self.window;
        r
    }

    fn estimate(&self, r: &Record, now: u64) -> f64 {
        let into = now.saturating_sub(r.start) as f64 / self.window as f64;
        if into >= 2.0 {
            return 0.0;
        }
        if into >= 1.0 {
            return f64::from(r.current) * (2.0 - into);
        }
        f64::from(r.previous) * (1.0 - into) + f64::from(r.current)
    }

    /// `Some(seconds to wait)` when `client` is over the limit at `now`.
    pub fn blocked(&self, record: Option<Record>, client: &str, now: u64) -> Option<u64> {
        let r = self.current(record, client, now);
        if self.estimate(&r, now) < f64::from(self.max_failures) {
            return None;
        }
        // The estimate falls below the limit once enough of the previous window has passed;
        // the end of the current window is a safe upper bound.
        Some((r.start + self.window).saturating_sub(now).max(1))
    }

    /// The record after one more failure of `client` at `now`.
    pub fn fail(&self, record: Option<Record>, client: &str, now: u64) -> Record {
        let mut r = self.current(record, client, now);
        r.current = r.current.saturating_add(1);
        r
    }
}

/// The shared-data slot for a client: a keyed hash of its address into a fixed number of
/// slots, so memory stays bounded however many addresses an attacker has.
pub fn slot(key: &[u8; 32], client: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let d = Sha256::new()
        .chain_update(key)
        .chain_update(client.as_bytes())
        .finalize();
    u32::from_le_bytes([d[0], d[1], d[2], d[3]]) % SLOTS
}

/// Number of shared-data slots.
pub const SLOTS: u32 = 16_384;

/// The client address without its port (`10.0.0.1:5555` → `10.0.0.1`, `[::1]:80` → `::1`).
pub fn client_ip(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_block_and_decay() {
        let t = Throttle::compile(3, 60).unwrap();
        let mut r = None;
        let now = 6000; // a window boundary
        for i in 0..3 {
            assert_eq!(t.blocked(r.clone(), "a", now + i), None, "failure {i}");
            r = Some(t.fail(r, "a", now + i));
        }
        assert_eq!(t.blocked(r.clone(), "a", now + 3), Some(57));
        assert_eq!(
            t.blocked(r.clone(), "b", now + 3),
            None,
            "another client is not blocked"
        );
        // Next window: 3 failures weighted by the overlap, still blocked at its start...
        assert!(t.blocked(r.clone(), "a", now + 60).is_some());
        // ...then decayed below the limit part way through.
        assert_eq!(t.blocked(r.clone(), "a", now + 80), None);
        assert_eq!(t.blocked(r, "a", now + 200), None);
    }

    #[test]
    fn records_round_trip_and_addresses() {
        let r = Record {
            client: "10.0.0.1".into(),
            start: 60,
            current: 2,
            previous: 1,
        };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(client_ip("10.0.0.1:5555"), "10.0.0.1");
        assert_eq!(client_ip("[::1]:80"), "::1");
        assert_eq!(client_ip("::1"), "::1");
        assert!(slot(&[1; 32], "a") < SLOTS);
        assert!(Throttle::compile(0, 60).is_err() && Throttle::compile(1, 0).is_err());
    }
}
