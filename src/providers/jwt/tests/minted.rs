//! Tokens minted here for every algorithm and every claim rule, and the verified-token cache.

use super::*;

/// What a check returns, reduced to the headers set upstream.
type Outcome = Result<Vec<(String, String)>, Rejection>;

struct Keys {
    hmac: Vec<u8>,
    p256: p256::ecdsa::SigningKey,
    p384: p384::ecdsa::SigningKey,
    k256: k256::ecdsa::SigningKey,
    ed: ed25519_compact::KeyPair,
}

impl Keys {
    fn new() -> Self {
        Keys {
            hmac: vec![0x42; 64],
            p256: p256::ecdsa::SigningKey::from_slice(&[1; 32]).unwrap(),
            p384: p384::ecdsa::SigningKey::from_slice(&[2; 48]).unwrap(),
            k256: k256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap(),
            ed: ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([4; 32])),
        }
    }

    fn jwks(&self) -> Value {
        let ec = |crv: &str, point: Vec<u8>, n: usize, kid: &str| json!({"kty": "EC", "crv": crv, "kid": kid, "x": B64.encode(&point[1..1 + n]), "y": B64.encode(&point[1 + n..])});
        json!({"keys": [
            {"kty": "oct", "kid": "hmac", "k": B64.encode(&self.hmac)},
            ec("P-256", self.p256.verifying_key().to_encoded_point(false).as_bytes().to_vec(), 32, "p256"),
            ec("P-384", self.p384.verifying_key().to_encoded_point(false).as_bytes().to_vec(), 48, "p384"),
            ec("secp256k1", self.k256.verifying_key().to_encoded_point(false).as_bytes().to_vec(), 32, "k256"),
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": B64.encode(self.ed.pk.as_ref())},
        ]})
    }

    /// A token signed with `alg` (kid picked by alg unless the header says otherwise).
    fn mint(&self, alg: Alg, mut header: Value, claims: Value) -> String {
        header["alg"] = json!(alg.name());
        if header.get("kid").is_none() {
            header["kid"] = json!(match alg {
                Alg::Hs256 | Alg::Hs384 | Alg::Hs512 => "hmac",
                Alg::Es256 => "p256",
                Alg::Es384 => "p384",
                Alg::Es256k => "k256",
                _ => "ed",
            });
        }
        let input = format!("{}.{}", segment(&header), segment(&claims));
        let m = input.as_bytes();
        use jwt_compact::AlgorithmSignature as S;
        let sig: Vec<u8> = match alg {
            Alg::Hs256 => S::as_bytes(
                &jwt_compact::alg::Hs256.sign(&jwt_compact::alg::Hs256Key::new(&self.hmac), m),
            )
            .to_vec(),
            Alg::Hs384 => S::as_bytes(
                &jwt_compact::alg::Hs384.sign(&jwt_compact::alg::Hs384Key::new(&self.hmac), m),
            )
            .to_vec(),
            Alg::Hs512 => S::as_bytes(
                &jwt_compact::alg::Hs512.sign(&jwt_compact::alg::Hs512Key::new(&self.hmac), m),
            )
            .to_vec(),
            Alg::Es256 => S::as_bytes(&jwt_compact::alg::Es256.sign(&self.p256, m)).to_vec(),
            Alg::Es384 => {
                S::as_bytes(&crate::providers::jwt::es384::Es384.sign(&self.p384, m)).to_vec()
            }
            Alg::Es256k => S::as_bytes(
                &jwt_compact::alg::Es256k::<sha2::Sha256>::default().sign(&self.k256, m),
            )
            .to_vec(),
            Alg::EdDsa | Alg::Ed25519 => {
                S::as_bytes(&jwt_compact::alg::Ed25519.sign(&self.ed.sk, m)).to_vec()
            }
            _ => unreachable!("RSA is not minted here"),
        };
        format!("{input}.{}", B64.encode(sig))
    }
}

/// Every algorithm minted here that the module verifies (ES384 goes to the host: see
/// `es384_by_the_host_only`).
const MINTED: [Alg; 7] = [
    Alg::Hs256,
    Alg::Hs384,
    Alg::Hs512,
    Alg::Es256,
    Alg::Es256k,
    Alg::EdDsa,
    Alg::Ed25519,
];

fn idp(keys: &Keys, extra: Value) -> JwtProvider {
    let mut config = json!({
        "issuer": "https://idp", "audiences": ["orders"], "local_jwks": keys.jwks(),
        "claim_to_headers": [{"claim_name": "sub", "header_name": "x-sub"}, {"claim_name": "groups", "header_name": "x-groups"}],
        "forward_payload_header": "x-jwt-payload",
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    provider(config)
}

fn good_claims() -> Value {
    json!({"iss": "https://idp", "aud": "orders", "sub": "alice", "exp": NOW + 600, "groups": ["a", "b"]})
}

#[test]
fn every_algorithm_verifies_and_forwards() {
    let keys = Keys::new();
    let p = idp(&keys, json!({}));
    for alg in MINTED {
        let token = keys.mint(alg, json!({}), good_claims());
        let set = verify(&p, &token, NOW).unwrap_or_else(|e| panic!("{}: {e:?}", alg.name()));
        let payload = token.split('.').nth(1).unwrap().to_string();
        assert_eq!(
            set,
            vec![
                ("x-jwt-payload".to_string(), payload),
                ("x-sub".to_string(), "alice".to_string()),
                ("x-groups".to_string(), "a,b".to_string())
            ],
            "{}",
            alg.name()
        );
    }
}

#[test]
fn refusal_table() {
    let keys = Keys::new();
    let p = idp(&keys, json!({"max_lifetime_seconds": 3600}));
    let invalid = |why| Err(Rejection::Refused(Denial::InvalidCredentials(why)));
    let with = |patch: Value| {
        let mut c = good_claims();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let es = |header: Value, claims: Value| keys.mint(Alg::Es256, header, claims);
    let none_token = format!(
        "{}.{}.",
        segment(&json!({"alg": "none"})),
        segment(&good_claims())
    );
    let cases: Vec<(&str, String, Outcome)> = vec![
        (
            "expired beyond skew",
            es(json!({}), with(json!({"exp": NOW - 61}))),
            Err(Rejection::Refused(Denial::TokenExpired)),
        ),
        (
            "expired within skew",
            es(json!({}), with(json!({"exp": NOW - 59}))),
            Ok(vec![]),
        ),
        (
            "not yet valid",
            es(json!({}), with(json!({"nbf": NOW + 61}))),
            invalid("token not yet valid"),
        ),
        (
            "wrong issuer",
            es(json!({}), with(json!({"iss": "https://evil"}))),
            invalid("issuer not accepted"),
        ),
        (
            "wrong audience",
            es(json!({}), with(json!({"aud": ["billing"]}))),
            invalid("audience not accepted"),
        ),
        (
            "audience in array",
            es(json!({}), with(json!({"aud": ["billing", "orders"]}))),
            Ok(vec![]),
        ),
        (
            "exp beyond max lifetime",
            es(json!({}), with(json!({"exp": NOW + 3601}))),
            invalid("token lifetime exceeds the maximum"),
        ),
        (
            "no exp with max lifetime",
            es(json!({}), json!({"iss": "https://idp", "aud": "orders"})),
            invalid("token has no expiration"),
        ),
        (
            "string exp",
            es(json!({}), with(json!({"exp": "1700000600"}))),
            invalid("`exp` is not a number"),
        ),
        // Times jwt_verify_lib reads as malformed (issue 21): before the epoch, or past what
        // a signed 64-bit time holds.
        (
            "negative exp",
            es(json!({}), with(json!({"exp": -1}))),
            invalid("`exp` is before 1970 or past 2^63 s"),
        ),
        (
            "exp past 2^63",
            es(
                json!({}),
                with(json!({"exp": 9_223_372_036_854_775_810u64})),
            ),
            invalid("`exp` is before 1970 or past 2^63 s"),
        ),
        (
            "negative nbf",
            es(json!({}), with(json!({"nbf": -5}))),
            invalid("`nbf` is before 1970 or past 2^63 s"),
        ),
        (
            "huge iat",
            es(json!({}), with(json!({"iat": 1e300}))),
            invalid("`iat` is before 1970 or past 2^63 s"),
        ),
        // RFC 7519 §4.1.2 and §4.1.7 (jwt_verify_lib refuses these too: JwtPayloadParseError*NotString).
        (
            "numeric sub",
            es(json!({}), with(json!({"sub": 1234}))),
            invalid("`sub` is not a string"),
        ),
        (
            "object sub",
            es(json!({}), with(json!({"sub": {"id": "a"}}))),
            invalid("`sub` is not a string"),
        ),
        (
            "array sub",
            es(json!({}), with(json!({"sub": ["a"]}))),
            invalid("`sub` is not a string"),
        ),
        (
            "numeric jti",
            es(json!({}), with(json!({"jti": 7}))),
            invalid("`jti` is not a string"),
        ),
        (
            "unknown kid",
            es(json!({"kid": "nope"}), good_claims()),
            invalid("unknown key id"),
        ),
        (
            "kid of another key type",
            es(json!({"kid": "ed"}), good_claims()),
            invalid("no key for the token's algorithm"),
        ),
        (
            "crit",
            es(json!({"crit": ["exp"], "exp": 1}), good_claims()),
            invalid("token uses a critical header extension that is not supported"),
        ),
        (
            "alg none",
            none_token.clone(),
            invalid("unsigned tokens (alg none) are not accepted"),
        ),
        (
            "alg NoNe",
            none_token.replace(
                &segment(&json!({"alg": "none"})),
                &segment(&json!({"alg": "NoNe"})),
            ),
            invalid("unsigned tokens (alg none) are not accepted"),
        ),
        (
            "nested",
            es(json!({"cty": "JWT"}), good_claims()),
            invalid("nested tokens are not accepted"),
        ),
        (
            "jwe",
            "a.b.c.d.e".into(),
            invalid("encrypted tokens (JWE) are not accepted"),
        ),
        ("two parts", "a.b".into(), invalid("malformed token")),
        (
            "garbage",
            "!!!.???.***".into(),
            invalid("malformed token header"),
        ),
        (
            "oversized",
            format!("{}.x.y", "a".repeat(20_000)),
            invalid("token too large"),
        ),
        (
            "duplicate claim",
            {
                let t = es(json!({}), good_claims());
                let mut parts: Vec<String> = t.split('.').map(String::from).collect();
                parts[1] = B64.encode(
                    r#"{"iss":"https://idp","aud":"orders","exp":1700000600,"sub":"a","sub":"b"}"#,
                );
                parts.join(".")
            },
            invalid("malformed token claims"),
        ),
        (
            "tampered payload",
            {
                let t = es(json!({}), good_claims());
                let mut parts: Vec<String> = t.split('.').map(String::from).collect();
                parts[1] = segment(&with(json!({"sub": "mallory"})));
                parts.join(".")
            },
            invalid("invalid signature"),
        ),
    ];
    for (name, token, want) in cases {
        let got = verify(&p, &token, NOW);
        match (&want, &got) {
            (Ok(_), Ok(_)) => {}
            _ => assert_eq!(got.map(|_| vec![]), want, "{name}"),
        }
    }
}

#[test]
fn cache_hits_recheck_time_and_key_rotation_drops_them() {
    let keys = Keys::new();
    let p = idp(&keys, json!({}));
    let view = HeaderList::new("GET", "/", &[]);
    let req = Request::new(&view);
    let token = keys.mint(Alg::Es256, json!({}), good_claims());
    assert!(p.verify(&token, 0, &req, NOW).is_ok());
    assert_eq!(p.cached(), 1);
    assert!(p.verify(&token, 0, &req, NOW + 10).is_ok());
    assert_eq!(
        p.verify(&token, 0, &req, NOW + 700).map(|_| ()),
        Err(Rejection::Refused(Denial::TokenExpired))
    );
    assert_eq!(p.cached(), 0, "expired entries are dropped");
    assert!(p.verify(&token, 0, &req, NOW).is_ok());
    let fp = p
        .local
        .iter()
        .find(|k| k.kid.as_deref() == Some("p256"))
        .unwrap()
        .fingerprint;
    p.cache.borrow_mut().drop_keys(&[fp], &[]);
    assert_eq!(
        p.cached(),
        0,
        "a key that left takes its verifications along"
    );
}

/// ES384 is verified by the host only: it gets the P-384 key's DER, SHA-384 and a DER signature
/// that really verifies (checked here with the `p384` crate, as BoringSSL would); without a host
/// the key is skipped with a warning that says why, and the token is refused.
#[test]
fn es384_by_the_host_only() {
    use p384::ecdsa::signature::Verifier;
    struct P384Host(std::cell::Cell<bool>);
    impl crate::crypto::HostSignatures for P384Host {
        fn verify(&self, hash: &str, spki: &[u8], signature: &[u8], message: &[u8]) -> bool {
            self.0.set(true);
            let (Ok(key), Ok(sig)) = (
                p384::ecdsa::VerifyingKey::from_sec1_bytes(&spki[spki.len() - 97..]),
                p384::ecdsa::Signature::from_der(signature),
            ) else {
                return false;
            };
            hash == "sha384" && key.verify(message, &sig).is_ok()
        }
    }
    let keys = Keys::new();
    let token = keys.mint(Alg::Es384, json!({}), good_claims());
    let raw: RawJwt = crate::schema::section(
        "",
        json!({
        "issuer": "https://idp", "audiences": ["orders"], "local_jwks": keys.jwks()}),
    )
    .unwrap();
    let host = std::rc::Rc::new(P384Host(std::cell::Cell::new(false)));
    let setup = Setup {
        signatures: Some(host.clone()),
        ..SETUP
    };
    let p = JwtProvider::compile(&setup, &raw).unwrap();
    assert!(verify(&p, &token, NOW).is_ok());
    assert!(host.0.get(), "the host was asked");
    let (head, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}", B64.encode([7u8; 96]));
    assert!(verify(&p, &forged, NOW).is_err());
    let no_host = JwtProvider::compile(&SETUP, &raw).unwrap();
    assert!(
        no_host
            .warnings()
            .iter()
            .any(|w| w.contains("kid \"p384\"") && w.contains("verified only by the host")),
        "{:?}",
        no_host.warnings()
    );
    assert_eq!(
        verify(&no_host, &token, NOW),
        Err(Rejection::Refused(Denial::InvalidCredentials(
            "unknown key id"
        )))
    );
}
