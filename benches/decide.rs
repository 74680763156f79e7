//! `cargo bench --bench decide`: the pure decision for the hot paths (no host calls), native.
//! What is left of a request's cost in Envoy beyond this is host calls and the VM boundary.

#![allow(clippy::expect_used)] // a benchmark, not filter code

use authgate::{Engine, HeaderList};
use std::hint::black_box;
use std::time::Instant;

const PROVIDERS: &str = r#""providers": {"k": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]},
                           "b": {"type": "basic", "htpasswd": "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="}}"#;

fn main() {
    let e = Engine::from_json(format!("{{{PROVIDERS}}}").as_bytes(), [1; 32]).expect("config");
    // The same, with a host rule before: the authority is checked (one host[:port]) and matched.
    let hosts = Engine::from_json(
        format!(
            r#"{{{PROVIDERS}, "rules": [{{"match": {{"prefix": "/", "hosts": ["*.internal"]}}, "requires": "b"}},
                                     {{"match": {{"prefix": "/"}}, "requires": {{"any": ["k", "b"]}}}}]}}"#
        )
        .as_bytes(),
        [1; 32],
    )
    .expect("config with a host rule");
    let base = [
        (":authority", "api.example.com:8443"),
        ("user-agent", "wrk"),
        ("x-request-id", "0b1c2d3e-1111-2222-3333-444455556666"),
    ];
    type Case<'a> = (&'a str, &'a Engine, Vec<(&'a str, &'a str)>);
    let cases: [Case; 5] = [
        ("api key valid", &e, vec![("x-api-key", "k-1")]),
        (
            "api key valid, behind a host rule",
            &hosts,
            vec![("x-api-key", "k-1")],
        ),
        ("api key wrong (401)", &e, vec![("x-api-key", "nope")]),
        (
            "basic {SHA} valid",
            &e,
            vec![("authorization", "Basic Ym9iOnNlY3JldA==")],
        ),
        ("missing (401)", &e, vec![]),
    ];
    println!("| path | ns per decision |\n|---|---|");
    for (name, e, extra) in cases {
        let headers: Vec<(&str, &str)> = base.iter().copied().chain(extra).collect();
        let view = HeaderList::new("GET", "/orders", &headers);
        let n = 200_000u32;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..n {
                black_box(e.decide(black_box(&view), 1_700_000_000));
            }
            best = best.min(t.elapsed().as_nanos() as f64 / f64::from(n));
        }
        println!("| {name} | {best:.0} |");
    }
}
