//! Pins where authgate's verdicts differ from google/jwt_verify_lib's own unit tests.
//!
//! Each entry of `tests/vectors/jwt_verify_lib/vectors.json` is one status assertion of
//! jwt_verify_lib's C++ tests (see the README next to it). authgate's verdict is computed
//! through its public API, with no host signature verifier (so P-384 and P-521, which only the host verifies, are unsupported): a
//! `jwks` entry passes if `local_jwks` holding the text compiles, a `jwt_parse` entry if
//! `token::parse` accepts the token, a `verify` entry if the provider accepts the token (or,
//! for `Jwt::verifyTimeConstraint` entries, if the exp/nbf check passes). jwt_verify_lib's
//! `Ok` should be authgate's yes, any other status its no. The ids where they disagree must be
//! exactly `KNOWN`, with the same class: a new disagreement fails, and so does a known one
//! that now agrees (remove it from the table). `cargo test --test jwt_verify_lib --
//! --nocapture` shows the summary lines.

// The crate denies these lints; clippy's allow-*-in-tests covers only `#[test]` functions,
// not this file's helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use authgate::providers::jwt::claims::ClaimRules;
use authgate::providers::jwt::{token, JwtProvider, RawJwt};
use authgate::providers::{Provider, Rejection, Setup, NO_ENV};
use authgate::request::{HeaderList, Request};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const VECTORS: &str = include_str!("vectors/jwt_verify_lib/vectors.json");

/// `now` for the entries whose C++ test used the wall clock (`now: null`). Only two of them
/// depend on it: `VerifyJwk{Rsa,Hmac}Test.NoKidLongExpOK` (ids 223 and 162) carry
/// `exp: 2001001001` (2033-05-29) and expect `Ok`, which holds at this fixed time (2023-11-14)
/// and would stop holding on the real clock after 2033.
const FIXED_NOW: u64 = 1_700_000_000;

/// Every entry (main assertion or precondition) where authgate's verdict differs, by class.
const KNOWN: &[(u32, &str)] = &[
    (34, "host_only"),         // JwksParseTest.JwksECMatchAlgES384CrvP384
    (35, "host_only"),         // JwksParseTest.JwksECMatchAlgES512CrvP521
    (36, "ec_no_crv_no_alg"),  // JwksParseTest.JwksECMissingBothAlgCrvES256
    (39, "host_only"),         // JwksParseTest.JwkECMissingAlg
    (40, "host_only"),         // JwksParseTest.JwkECMissingCrv
    (62, "pem"),               // JwksParseTest.goodPEMRSA
    (63, "pem"),               // JwksParseTest.goodPEMEC
    (64, "pem"),               // JwksParseTest.goodPEMEd25519
    (69, "pem"),               // JwksParseTest.CreateFromPemPopulatesExpectedFields
    (70, "pem"),               // JwksParseTest.addKeyFromPemSuccess
    (71, "pem"),               // JwksParseTest.addKeyFromPemSuccess
    (72, "pem"),               // JwksParseTest.addKeyFromPemSuccess
    (73, "pem"),               // JwksParseTest.addKeyFromPemError
    (75, "pem"),               // JwksParseTest.addKeyFromPemError
    (109, "noncanonical_b64"), // VerifyExpTest.BothNbfExp (precondition)
    (110, "noncanonical_b64"), // VerifyExpTest.BothNbfExp
    (112, "noncanonical_b64"), // VerifyExpTest.BothNbfExp
    (114, "noncanonical_b64"), // VerifyExpTest.BothNbfExpWithCustomClockSkew (precondition)
    (115, "noncanonical_b64"), // VerifyExpTest.BothNbfExpWithCustomClockSkew
    (117, "noncanonical_b64"), // VerifyExpTest.BothNbfExpWithCustomClockSkew
    (119, "noncanonical_b64"), // VerifyExpTest.OnlyExp (precondition)
    (120, "noncanonical_b64"), // VerifyExpTest.OnlyExp
    (122, "noncanonical_b64"), // VerifyExpTest.OnlyExp
    (123, "noncanonical_b64"), // VerifyExpTest.OnlyNbf (precondition)
    (124, "noncanonical_b64"), // VerifyExpTest.OnlyNbf
    (125, "noncanonical_b64"), // VerifyExpTest.OnlyNbf
    (127, "noncanonical_b64"), // VerifyExpTest.NotTimeConstraint (precondition)
    (128, "noncanonical_b64"), // VerifyExpTest.NotTimeConstraint
    (129, "noncanonical_b64"), // VerifyExpTest.NotTimeConstraint
    (135, "empty_audiences"),  // VerifyAudTest.Success
    (141, "host_only"),        // VerifyJwkECTest.KidES384OK
    (144, "host_only"),        // VerifyJwkECTest.KidES512OK
    (156, "kidless_key"),      // VerifyJwkECTest.PubkeyNoKidOK
    (157, "lenient_comma"),    // VerifyJwkHmacTest.SetUp (precondition)
    (159, "lenient_comma"),    // VerifyJwkHmacTest.NoKidOK
    (162, "lenient_comma"),    // VerifyJwkHmacTest.NoKidLongExpOK
    (165, "lenient_comma"),    // VerifyJwkHmacTest.CorrectKidHS256OK
    (168, "lenient_comma"),    // VerifyJwkHmacTest.CorrectKidHS384OK
    (171, "lenient_comma"),    // VerifyJwkHmacTest.CorrectKidHS512OK
    (175, "lenient_comma"),    // VerifyJwkHmacTest.OkSymmetricKeyNotAlg (precondition)
    (177, "lenient_comma"),    // VerifyJwkHmacTest.OkSymmetricKeyNotAlg
    (178, "lenient_comma"),    // VerifyJwkHmacTest.OkSymmetricKeyNotKid (precondition)
    (180, "lenient_comma"),    // VerifyJwkHmacTest.OkSymmetricKeyNotKid
    (197, "kidless_key"),      // VerifyJwkOKPTest.PubkeyNoKidOK
    (240, "pem"),              // VerifyPKCSTestRs256.OKPem (ec file, precondition)
    (241, "pem"),              // VerifyPKCSTestRs256.OKPem (ec file)
    (244, "pem"),              // VerifyPKCSTestES384.OKPem (precondition)
    (245, "pem"),              // VerifyPKCSTestES384.OKPem
    (248, "pem"),              // VerifyPKCSTestES512.OKPem (precondition)
    (249, "pem"),              // VerifyPKCSTestES512.OKPem
    (252, "pem"),              // VerifyPKCSTestES384.ES384CurveUnspecifiedOK (precondition)
    (253, "pem"),              // VerifyPKCSTestES384.ES384CurveUnspecifiedOK
    (255, "pem"),              // VerifyPKCSTestRs256.jwksAlgUnspecifiedDoesNotMatchJwtFail (pre.)
    (259, "pem"),              // VerifyPKCSTestRs256.jwksIncorrectAlgSpecifiedFail (precondition)
    (263, "pem"),              // VerifyPEMTestOKP.VerifyOK (precondition)
    (264, "pem"),              // VerifyPEMTestOKP.VerifyOK
    (268, "pem"),              // VerifyPEMTestOKP.jwksIncorrectAlgSpecifiedFail (precondition)
    (271, "pem"),              // VerifyPEMTestOKP.WrongSignatureFail (precondition)
    (274, "pem"),              // VerifyPKCSTestRs256.OKPem (rsa file, precondition)
    (275, "pem"),              // VerifyPKCSTestRs256.OKPem (rsa file)
    (278, "pem"),              // VerifyPKCSTestRs384.OKPem (precondition)
    (279, "pem"),              // VerifyPKCSTestRs384.OKPem
    (282, "pem"),              // VerifyPKCSTestRs512.OKPem (precondition)
    (283, "pem"),              // VerifyPKCSTestRs512.OKPem
    (285, "padded_b64"),       // VerifyX509Test.NoKidToken (precondition)
    (287, "padded_b64"),       // VerifyX509Test.NoKidToken
    (306, "lenient_ctrl"),     // JwksParseTest.FuzzTestJwksCorpusFile (precondition)
    (307, "lenient_ctrl"),     // JwksParseTest.FuzzTestJwksCorpusFile
    (309, "pem"),              // JwksParseTest.FuzzTestJwksCorpusFile (precondition)
    (310, "pem"),              // JwksParseTest.FuzzTestJwksCorpusFile
];

/// Compiles a `jwt` provider with `text` as its `local_jwks` string (jwt_authn's
/// `inline_string`), without a host signature verifier.
fn compile(text: &str, audiences: Option<&Value>, skew: u64) -> Result<JwtProvider, String> {
    let mut raw = json!({ "local_jwks": text, "clock_skew_seconds": skew });
    if let Some(a) = audiences {
        raw["audiences"] = a.clone();
    }
    let raw: RawJwt = authgate::schema::section("", raw).map_err(|e| format!("RawJwt: {e}"))?;
    let setup = Setup {
        name: "p",
        secret: [7; 32],
        signatures: None,
        audiences: &[],
        env: NO_ENV,
        random: None,
    };
    JwtProvider::compile(&setup, &raw).map_err(|e| e.to_string())
}

/// authgate's verdict on one entry: `Ok(())` for yes, `Err(reason)` for no.
fn verdict(e: &Value, file_jwks: &BTreeMap<&str, &str>) -> Result<(), String> {
    let s = |k: &str| e[k].as_str();
    let token = s("token").unwrap_or("");
    let skew = e["clock_skew"].as_u64().unwrap_or(60);
    let now = e["now"].as_u64().unwrap_or(FIXED_NOW);
    match s("kind").unwrap() {
        "jwks" => compile(s("jwks").unwrap(), None, skew).map(|_| ()),
        "jwt_parse" => token::parse(token).map(|_| ()).map_err(str::to_string),
        // `Jwt::verifyTimeConstraint`: exp/nbf only, on the claims the token parses to, with
        // the test's in-memory overrides (0 = claim absent).
        "verify" if e["signature_checked"] == json!(false) => {
            let claims = token::parse(token)?.claims;
            let (mut exp, mut nbf) = (claims.exp, claims.nbf);
            if e["claim_overrides"]["exp"] == json!(0) {
                exp = None;
            }
            if e["claim_overrides"]["nbf"] == json!(0) {
                nbf = None;
            }
            let rules = ClaimRules {
                clock_skew: skew,
                ..ClaimRules::default()
            };
            rules.check_time(exp, nbf, now).map_err(|d| d.to_string())
        }
        "verify" => {
            // VerifyAudTest.MissingAudience verified against an empty Jwks (the audience check
            // fails first there): the file's key set stands in, so the audience decides here too.
            let text = s("jwks").unwrap_or_else(|| file_jwks[s("file").unwrap()]);
            let p = compile(text, e.get("audiences"), skew)?;
            let view = HeaderList::new("GET", "/", &[]);
            match p.verify(token, 0, &Request::new(&view), now) {
                Ok(_) => Ok(()),
                Err(Rejection::Refused(d)) => Err(d.to_string()),
                Err(Rejection::Pending(n)) => Err(format!("pending: {n:?}")),
            }
        }
        other => panic!("entry {}: unknown kind {other}", e["id"]),
    }
}

/// The class of a difference, from the entry and authgate's reason (the names of `KNOWN`).
fn classify(e: &Value, reason: &str) -> &'static str {
    let sig_padded = e["token"].as_str().is_some_and(|t| t.ends_with('='));
    let host_alg = e["token"]
        .as_str()
        .and_then(|t| token::parse(t).ok())
        .is_some_and(|t| matches!(t.alg.name(), "ES384" | "ES512"));
    if e["jwks_format"] == json!("pem") {
        "pem"
    } else if reason.contains("not JSON: control character") {
        "lenient_ctrl"
    } else if reason.contains("not JSON: trailing comma") {
        "lenient_comma"
    } else if reason.contains("verified only by the host")
        || (reason.ends_with("unknown key id") && host_alg)
    {
        "host_only"
    } else if reason.contains("no `crv`, and no `alg`") {
        "ec_no_crv_no_alg"
    } else if reason.contains("audiences: must not be empty") {
        "empty_audiences"
    } else if reason.ends_with("malformed token signature") {
        if sig_padded {
            "padded_b64"
        } else {
            "noncanonical_b64"
        }
    } else if reason.ends_with("unknown key id") {
        "kidless_key"
    } else {
        "unclassified"
    }
}

#[test]
fn jwt_verify_lib_vectors() {
    let entries: Vec<Value> = serde_json::from_str(VECTORS).expect("vectors.json");
    let mut file_jwks: BTreeMap<&str, &str> = BTreeMap::new();
    for e in &entries {
        if let (Some(f), Some(j), None) = (
            e["file"].as_str(),
            e["jwks"].as_str(),
            e["jwks_format"].as_str(),
        ) {
            file_jwks.entry(f).or_insert(j);
        }
    }
    let known: BTreeMap<u32, &str> = KNOWN.iter().copied().collect();
    assert_eq!(known.len(), KNOWN.len(), "an id appears twice in KNOWN");

    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    // (total, agree, differences by class) for main assertions, then preconditions.
    let mut groups: [(usize, usize, BTreeMap<&str, usize>); 2] = Default::default();
    for e in &entries {
        let id = u32::try_from(e["id"].as_u64().expect("id")).expect("id fits u32");
        let expected = e["expected"].as_str().expect("expected");
        let got = verdict(e, &file_jwks);
        let g = &mut groups[usize::from(e["precondition"] == json!(true))];
        g.0 += 1;
        seen.insert(id);
        if got.is_ok() == (expected == "Ok") {
            g.1 += 1;
            if let Some(class) = known.get(&id) {
                problems.push(format!(
                    "id {id} ({class}) now agrees: remove it from KNOWN"
                ));
            }
            continue;
        }
        let reason = got.err().unwrap_or_else(|| "accepted".into());
        let class = classify(e, &reason);
        *g.2.entry(class).or_default() += 1;
        match known.get(&id) {
            Some(&k) if k == class => {}
            k => problems.push(format!(
                "id {id} {} {}: jwt_verify_lib {expected}, authgate {reason:?}, class {class} \
                 (KNOWN: {k:?})",
                e["file"], e["test"]
            )),
        }
    }
    for id in known.keys().filter(|id| !seen.contains(id)) {
        problems.push(format!("KNOWN id {id} is not in vectors.json"));
    }

    for ((total, agree, classes), what) in groups.iter().zip(["assertions", "preconditions"]) {
        let differ: usize = classes.values().sum();
        let list: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!(
            "jwt_verify_lib: {total} {what}, {agree} agree, {differ} differ ({}: {})",
            if problems.is_empty() {
                "every one known"
            } else {
                "NOT all known"
            },
            list.join(", ")
        );
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
