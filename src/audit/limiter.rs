//! The limit on audit lines: a flood of bad requests must not become a flood of log writes
//! (each costs the worker about as much as the request itself). Lines left out are counted,
//! and the count is summarised from the tick, so a burst followed by silence still leaves its
//! size in the log. A wasm worker keeps its own; the native module's workers share one, so the
//! main thread's tick can summarise what the worker threads left out.

use std::sync::Mutex;

/// Counts audit lines per second; time is passed in (milliseconds since the epoch).
#[derive(Debug, Default)]
pub struct AuditLimiter(Mutex<Window>);

#[derive(Debug, Default)]
struct Window {
    /// The second the counts below belong to.
    second: u64,
    /// Lines written in `second`.
    written: u32,
    /// Lines left out in `second`.
    left_out: u64,
    /// Lines left out in earlier seconds, not yet summarised.
    unreported: u64,
}

impl AuditLimiter {
    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        // Counts left by a panic with the lock held are still counts.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a line may be written at `now_ms` under `per_second` (0: no limit). A line
    /// that may not is counted for the next summary.
    pub fn allow(&self, per_second: u32, now_ms: u64) -> bool {
        if per_second == 0 {
            return true;
        }
        self.window().allow(per_second, now_ms)
    }

    /// For the tick: how many lines were left out in seconds that have ended, once
    /// ([`super::suppressed_line`] writes it).
    pub fn summary(&self, per_second: u32, now_ms: u64) -> Option<u64> {
        if per_second == 0 {
            return None;
        }
        self.window().summary(now_ms)
    }
}

impl Window {
    fn allow(&mut self, per_second: u32, now_ms: u64) -> bool {
        self.roll(now_ms);
        if self.written < per_second {
            self.written += 1;
            return true;
        }
        self.left_out += 1;
        false
    }

    fn summary(&mut self, now_ms: u64) -> Option<u64> {
        self.roll(now_ms);
        if self.unreported == 0 {
            return None;
        }
        Some(std::mem::take(&mut self.unreported))
    }

    fn roll(&mut self, now_ms: u64) {
        let second = now_ms / 1000;
        if second != self.second {
            self.unreported += self.left_out;
            (self.second, self.written, self.left_out) = (second, 0, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_silence_is_summarised_by_the_tick() {
        let l = AuditLimiter::default();
        let allowed = (0..10).filter(|_| l.allow(3, 5_000)).count();
        assert_eq!(allowed, 3);
        assert_eq!(l.summary(3, 5_900), None, "the second is not over");
        assert_eq!(l.summary(3, 6_050), Some(7));
        assert_eq!(l.summary(3, 6_100), None, "summarised once");
        assert_eq!(l.summary(3, 60_000), None, "silence says nothing");
    }

    #[test]
    fn a_new_second_writes_again_and_zero_means_no_limit() {
        let l = AuditLimiter::default();
        assert!(l.allow(1, 1_000));
        assert!(!l.allow(1, 1_500));
        assert!(l.allow(1, 2_000));
        assert!(!l.allow(1, 2_999));
        assert_eq!(l.summary(1, 3_000), Some(2));
        let open = AuditLimiter::default();
        assert!((0..1000).all(|_| open.allow(0, 1)));
        assert_eq!(open.summary(0, 9_999), None);
    }
}
