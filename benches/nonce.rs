//! `cargo bench --bench nonce`: what a DPoP server nonce (`dpop_nonce`) adds to a request,
//! native: checking the proof's nonce (one HKDF-Expand, one HMAC-SHA256, per configured secret
//! tried) and issuing one (the same, on a refusal or a renewal).

use authgate::binding::nonce::Nonces;
use std::hint::black_box;
use std::time::Instant;

fn best_ns(n: u32, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / f64::from(n));
    }
    best
}

fn main() {
    let now = 1_700_000_000;
    println!("| operation | ns |\n|---|---|");
    for keys in [1usize, 2] {
        let secrets: Vec<Vec<u8>> = (0..keys).map(|i| vec![i as u8 + 1; 32]).collect();
        let Some(n) = Nonces::new(&secrets, 60) else {
            return;
        };
        let nonce = n.issue(now);
        let accept = best_ns(200_000, || {
            black_box(n.check(black_box(&nonce), now));
        });
        println!("| accept a current nonce, {keys} secret(s) | {accept:.0} |");
        let issue = best_ns(200_000, || {
            black_box(n.issue(black_box(now)));
        });
        println!("| issue a nonce, {keys} secret(s) | {issue:.0} |");
    }
}
