//! DPoP server nonces as a client sends them back: whatever the string, `check` answers without
//! panicking; what it accepts is of the current or the previous step, and what the server
//! issues it accepts as current.
#![no_main]
use authgate::binding::nonce::{Age, Nonces, NONCE_LEN};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static NONCES: Option<Nonces> = Nonces::new(&[vec![7; 32], vec![9; 40]], 60);
}

fuzz_target!(|data: &[u8]| {
    let (now, text) = match data.split_first_chunk::<8>() {
        Some((n, rest)) => (u64::from_le_bytes(*n) >> 8, rest),
        None => (0, data),
    };
    let Ok(s) = std::str::from_utf8(text) else { return };
    NONCES.with(|n| {
        let Some(n) = n else { return };
        if let Some(age) = n.check(s, now) {
            assert_eq!(s.len(), NONCE_LEN);
            // Of the step it says: the same nonce, a window later, is the step before.
            let later = n.check(s, now + 60);
            assert!(age == Age::Previous || later == Some(Age::Previous), "{s:?} at {now}");
        }
        assert_eq!(n.check(&n.issue(now), now), Some(Age::Current));
    });
});
