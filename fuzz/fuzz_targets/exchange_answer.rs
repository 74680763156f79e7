//! A token endpoint's answer to a token exchange, under any status: nothing panics; a token
//! that is issued is one that can go upstream in `Authorization` (visible ASCII, bounded); a
//! refusal's description is printable ASCII with no quote.
#![no_main]
use authgate::exchange::answer::{read, Outcome, MAX_TOKEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data.split_first() {
        Some((s, rest)) => (
            [None, Some(200), Some(400), Some(401), Some(500)][usize::from(*s) % 5],
            rest,
        ),
        None => (None, data),
    };
    match read(status, body) {
        Outcome::Issued(i) => {
            assert!(!i.token.is_empty() && i.token.len() <= MAX_TOKEN);
            assert!(i.token.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        }
        Outcome::Refused { description, .. } => {
            if let Some(d) = description {
                assert!(d.chars().all(|c| (' '..='~').contains(&c) && c != '"'));
            }
        }
        _ => {}
    }
});
