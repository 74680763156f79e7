//! Token parsing and verification against a key set with every key type.
#![no_main]
use authgate::providers::jwt::{token, JwtProvider, RawJwt};
use authgate::providers::{Provider, Setup};
use authgate::request::{HeaderList, Request};
use libfuzzer_sys::fuzz_target;
thread_local! {
    // The provider holds per-worker state (RefCell), as in Envoy: one per thread here too.
    static PROVIDER: JwtProvider = provider();
}

fn provider() -> JwtProvider {
    {
        let jwks = include_str!("../../demo/jwks.json");
        let raw: RawJwt = authgate::schema::section("", serde_json::json!({
            "issuer": "https://idp.demo", "audiences": ["orders"], "local_jwks": jwks,
            "claim_to_headers": [{"claim_name": "sub", "header_name": "x-sub"}, {"claim_name": "a.b", "header_name": "x-ab"}],
        }))
        .unwrap();
        JwtProvider::compile(&Setup { name: "f", secret: [0; 32], signatures: None, audiences: &[], env: authgate::providers::NO_ENV, random: None }, &raw).unwrap()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = token::parse(s);
    let view = HeaderList::new("GET", "/", &[]);
    PROVIDER.with(|p| {
        // A fresh cache each time, so every input reaches the verifier.
        p.clear_cache();
        let _ = p.verify(s, 0, &Request::new(&view), 1_700_000_000);
    });
});
