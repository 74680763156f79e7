//! The `Cookie` header: pairs as rules and providers read them, and the header authgate
//! forwards without its own cookies. A comma never starts a pair, and what is forwarded is a
//! selection of the client's pairs as sent: never a pair the client did not send.
#![no_main]
use authgate::request::{cookies, cookies_except};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    let pairs: Vec<(&str, &str)> = cookies(header).collect();
    assert!(pairs.len() <= header.matches(';').count() + 1);
    let sent: Vec<&str> = header.split(';').map(|p| p.trim_matches([' ', '\t'])).collect();
    if let Some(kept) = cookies_except(header, |n| n == "__Host-authgate") {
        for pair in kept.split("; ") {
            assert!(sent.contains(&pair), "{pair:?} was not sent");
            assert_ne!(pair.split_once('=').map_or(pair, |(k, _)| k).trim(), "__Host-authgate");
        }
    }
});
