//! `cargo bench --bench jwt`: what a JWT costs on a verified-token cache miss (parse, pick the
//! key, check the signature and claims) and on a hit, for RS256, ES256 and EdDSA. Native
//! build of the same core that runs in Envoy; median of batches, std timing only.

#![allow(clippy::expect_used)] // a benchmark, not filter code

use authgate::providers::jwt::{JwtProvider, RawJwt};
use authgate::providers::{Provider, Setup};
use authgate::request::{HeaderList, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;

const NOW: u64 = 1_700_000_000;

fn token(alg: &str, kid: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let header = B64.encode(json!({"alg": alg, "kid": kid, "typ": "JWT"}).to_string());
    let claims = B64.encode(
        json!({"iss": "https://idp", "aud": "orders", "sub": "alice", "exp": NOW + 600,
               "scope": "orders:read profile"})
        .to_string(),
    );
    let input = format!("{header}.{claims}");
    let sig = sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig))
}

/// Median nanoseconds per call of `f` over `batches` batches of `n` calls.
fn measure(n: u32, batches: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let rsa_key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("rsa keygen");
    let p256_key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).expect("p256 key");
    let ed_key = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([9; 32]));

    let pubkey = rsa::RsaPublicKey::from(&rsa_key);
    let point = p256_key.verifying_key().to_encoded_point(false);
    use rsa::traits::PublicKeyParts;
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rsa", "n": B64.encode(pubkey.n().to_bytes_be()), "e": B64.encode(pubkey.e().to_bytes_be())},
        {"kty": "EC", "crv": "P-256", "kid": "p256", "x": B64.encode(&point.as_bytes()[1..33]), "y": B64.encode(&point.as_bytes()[33..])},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": B64.encode(ed_key.pk.as_ref())},
    ]});
    let raw: RawJwt = authgate::schema::section(
        "",
        json!({
            "issuer": "https://idp", "audiences": ["orders"], "local_jwks": jwks,
            "claim_to_headers": [{"claim_name": "sub", "header_name": "x-sub"}],
        }),
    )
    .expect("config");
    let provider = JwtProvider::compile(
        &Setup {
            name: "idp",
            secret: [1; 32],
            signatures: None,
            audiences: &[],
            env: authgate::providers::NO_ENV,
            random: None,
        },
        &raw,
    )
    .expect("provider");

    let tokens = [
        (
            "RS256",
            token("RS256", "rsa", |m| {
                jwt_compact::alg::Rsa::rs256()
                    .sign(&rsa_key, m)
                    .as_bytes()
                    .to_vec()
            }),
        ),
        (
            "ES256",
            token("ES256", "p256", |m| {
                jwt_compact::alg::Es256
                    .sign(&p256_key, m)
                    .as_bytes()
                    .to_vec()
            }),
        ),
        (
            "EdDSA",
            token("EdDSA", "ed", |m| {
                jwt_compact::alg::Ed25519
                    .sign(&ed_key.sk, m)
                    .as_bytes()
                    .to_vec()
            }),
        ),
    ];
    let view = HeaderList::new("GET", "/", &[]);
    let req = Request::new(&view);
    println!("| algorithm | cache miss (verify) | cache hit | miss / hit |");
    println!("|---|---|---|---|");
    for (alg, t) in &tokens {
        let miss = measure(50, 21, || {
            provider.clear_cache();
            black_box(provider.verify(black_box(t), 0, &req, NOW)).expect("valid");
        });
        provider.verify(t, 0, &req, NOW).expect("valid");
        let hit = measure(2000, 21, || {
            black_box(provider.verify(black_box(t), 0, &req, NOW)).expect("valid");
        });
        println!(
            "| {alg} | {:.1} µs | {:.2} µs | {:.0}× |",
            miss / 1000.0,
            hit / 1000.0,
            miss / hit
        );
    }
}
