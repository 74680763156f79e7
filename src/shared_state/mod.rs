//! Records kept in the proxy's shared data, which every worker sees: the remote key sets and
//! their fetch leases ([`jwks`]), introspection answers and their call leases
//! ([`introspection`]), tokens issued by token exchange and their call leases ([`exchange`]),
//! DPoP proofs already used ([`replay`]), the throttle's failure counts
//! ([`throttle`]) and the key of credential fingerprints ([`audit_key`]). Each update is a compare-and-swap loop against the
//! [`Host`], so concurrent workers never lose each other's writes; each has a race test.

pub mod audit_key;
pub mod discovery;
pub mod exchange;
pub mod introspection;
pub mod jwks;
pub mod replay;
pub mod throttle;

use crate::capabilities::{Host, SharedSetError};

/// Rewrites `key` with `next(current value)` by compare-and-swap, retrying up to `tries` times
/// when another worker wrote in between. Returns whether a write landed.
pub fn update(
    host: &dyn Host,
    key: &str,
    tries: usize,
    next: impl Fn(Option<&[u8]>) -> Vec<u8>,
) -> bool {
    for _ in 0..tries {
        let Some(current) = host.shared_get(key) else {
            return false;
        };
        let value = next(current.value.as_deref());
        // A record that does not exist yet is created only if it still does not: two workers
        // that both found it missing must not both write it unguarded.
        let written = match current.cas {
            Some(cas) => host.shared_set(key, &value, Some(cas)),
            None => host.shared_add(key, &value),
        };
        match written {
            Ok(()) => return true,
            Err(SharedSetError::CasMismatch) => continue,
            Err(_) => return false,
        }
    }
    false
}

/// The number kept at `key` (a lease's or a back-off's end, in ms); 0 when there is none.
pub fn number(host: &dyn Host, key: &str) -> u64 {
    host.shared_get(key)
        .and_then(|s| s.value)
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Marks the service of `key` down for `seconds` from `now_ms`: until then every worker
/// answers at once (a 503) instead of calling a service that has just failed. A mark that
/// cannot be written leaves each worker to find out for itself, which is slower, never looser.
pub fn mark_down(host: &dyn Host, key: &str, now_ms: u64, seconds: u64) {
    let until = now_ms + seconds * 1000;
    let _ = host.shared_set(key, until.to_string().as_bytes(), None);
}

/// Whether the service of `key` is marked down at `now_ms` ([`mark_down`]).
pub fn is_down(host: &dyn Host, key: &str, now_ms: u64) -> bool {
    number(host, key) > now_ms
}

/// Lower-case hex, as records name the hashes they hold.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Takes the lease `key` until `until` (ms) by compare-and-swap; `false` when another worker
/// holds it or took it first. The lease is also the retry back-off.
pub fn take_lease(host: &dyn Host, key: &str, now: u64, until: u64) -> bool {
    let Some(mut shared) = host.shared_get(key) else {
        return false;
    };
    if shared.value.is_none() {
        // A lease is taken by compare-and-swap on an existing record: create it first (only if
        // still absent where the host can: a lease another worker just took stays taken).
        let _ = host.shared_add(key, b"0");
        let Some(again) = host.shared_get(key) else {
            return false;
        };
        shared = again;
    }
    let held_until: u64 = shared
        .value
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if held_until > now || shared.cas.is_none() {
        return false;
    }
    host.shared_set(key, until.to_string().as_bytes(), shared.cas)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fake::FakeHost;

    #[test]
    fn a_lost_compare_and_swap_is_retried_on_the_new_value() {
        let host = FakeHost::default();
        let add = |v: Option<&[u8]>| {
            let n: u32 = v
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (n + 1).to_string().into_bytes()
        };
        assert!(update(&host, "n", 4, add));
        // Another worker adds 10 between this worker's read and its write.
        *host.before_next_cas.borrow_mut() = Some(Box::new(|store| {
            FakeHost::write_as_other(store, "n", b"11");
        }));
        assert!(update(&host, "n", 4, add));
        assert_eq!(host.store.borrow()["n"].0, b"12", "neither write was lost");
    }
}
