//! DPoP server nonces as a client sends them back: whatever the string, `accepts` and
//! `is_current` answer without panicking; what is accepted is of the current or the previous
//! step, and what the server issues it accepts.
#![no_main]
use authgate::binding::nonce::{Nonces, NONCE_LEN};
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
        if n.accepts(s, now) {
            assert_eq!(s.len(), NONCE_LEN);
            let step_ok = n.is_current(s, now) || now >= 60 && n.is_current(s, now - 60);
            assert!(step_ok, "{s:?} at {now}");
        }
        let _ = n.is_current(s, now);
        assert!(n.accepts(&n.issue(now), now));
    });
});
