//! The `authgate` command as a user runs it: exit codes and output of every subcommand, the
//! repository's own Envoy and Istio files (all pass), and one purpose-made file per warning.

#![allow(clippy::unwrap_used)] // a test of the command, not filter code

use std::io::Write;
use std::process::{Command, Output, Stdio};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn data(name: &str) -> String {
    format!("{DATA}/{name}")
}

#[test]
fn every_shipped_configuration_passes() {
    let mut files: Vec<String> = Vec::new();
    for dir in ["envoy", "envoy/ecds", "istio"] {
        for e in std::fs::read_dir(format!("{ROOT}/{dir}")).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p.to_string_lossy().into_owned());
            }
        }
    }
    assert!(files.len() >= 10, "{files:?}");
    let args: Vec<&str> = ["check"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        !stdout(&o).contains("invalid configuration"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn each_warning_on_its_own_file() {
    let cases = [
        ("shadowed.json", "warning: rules[1]: can never match: rules[0] (prefix /api) comes first"),
        ("open-route.json", "warning: rules[1]: is protected, but rules[0] (prefix /public) requires `none`"),
        ("skipped-key.json", "warning: providers.idp: local_jwks keys[1] (kid \"enc-1\", kty \"OKP\", crv \"X25519\"): unsupported curve \"X25519\"; key skipped"),
        ("bcrypt-cost.json", "warning: providers.staff: user \"carol\" has bcrypt cost 13"),
        ("query.json", "warning: providers.k: reads credentials from the query string"),
        ("realms.yaml", "warning: realm: the filters of this file use different realms (shop, ops)"),
        ("mcp-wasmplugin.yaml", "warning: rules[0].match.mcp: reads the request body, which needs Envoy's `allow_on_headers_stop_iteration: true` on the Wasm filter, and an Istio WasmPlugin cannot set it"),
        ("unnormalised.yaml", "warning: rules: rules match on the path, and this HTTP connection manager does not normalise it: set `normalize_path: true` and `merge_slashes: true`"),
    ];
    for (file, want) in cases {
        let o = run(&["check", &data(file)]);
        assert_eq!(o.status.code(), Some(0), "{file}: warnings alone pass");
        assert!(stdout(&o).contains(want), "{file}: {}", stdout(&o));
        let strict = run(&["check", "--strict", &data(file)]);
        assert_eq!(
            strict.status.code(),
            Some(1),
            "{file}: --strict fails on warnings"
        );
    }
}

#[test]
fn a_refusal_is_the_filters_own_line() {
    let o = run(&["check", &data("refused.json"), &data("query.json")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("refused.json: authgate: invalid configuration: providers.k.credentials[0].kye: unknown field `kye`, expected one of `client`, `key`, `key_sha256`"), "{}", stdout(&o));
    let o = run(&["check", &data("not-authgate.yaml")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("no authgate configuration in it"));
}

#[test]
fn the_vm_environment_comes_from_the_manifest() {
    let o = run(&["check", &data("wasmplugin-secret.yaml")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        !stdout(&o).contains("from-the-manifest"),
        "a secret is never printed"
    );
}

#[test]
fn json_for_ci() {
    let o = run(&[
        "check",
        "--format",
        "json",
        &data("query.json"),
        &data("refused.json"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["files"][0]["ok"], true);
    assert_eq!(v["files"][0]["warnings"][0]["field"], "providers.k");
    assert_eq!(v["files"][1]["ok"], false);
    assert!(v["files"][1]["refusal"]
        .as_str()
        .unwrap()
        .contains("providers.k.credentials[0].kye"));
}

#[test]
fn explain_shows_the_rule_the_credentials_and_the_reply() {
    let demo = format!("{ROOT}/envoy/demo.yaml");
    let o = run(&["explain", &demo, "GET", "/orders", "-H", "x-api-key: nope"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("rule: rules[3]"), "{out}");
    assert!(
        out.contains("credential partners (ApiKey): refused: invalid credentials: unknown API key"),
        "{out}"
    );
    assert!(out.contains("\nHTTP/1.1 401 Unauthorized\n"), "{out}");
    assert!(
        out.contains("www-authenticate: ApiKey realm=\"demo\", in=\"header\", name=\"x-api-key\""),
        "{out}"
    );
    assert!(out.contains("\"error\":\"invalid_credentials\""), "{out}");
    let o = run(&[
        "explain",
        &demo,
        "GET",
        "/orders",
        "-H",
        "x-api-key: demo-key-1",
        "-H",
        "x-auth-user: root",
    ]);
    let out = stdout(&o);
    assert!(
        out.contains("passed upstream\n- x-auth-user\n+ x-auth-client: acme"),
        "{out}"
    );
    // A well-formed token for the demo's issuer: its keys are needed to go on.
    let token = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImRlbW8tZXMyNTYifQ.eyJpc3MiOiJodHRwczovL2lkcC5kZW1vIn0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let bearer = format!("authorization: Bearer {token}");
    let o = run(&[
        "explain", "--format", "json", &demo, "GET", "/reports", "-H", &bearer,
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rule"], "rules[5]");
    assert_eq!(
        v["held"], true,
        "the demo's key set is remote: without --jwks the request waits"
    );
}

#[test]
fn explain_with_a_key_set() {
    // RFC 7515 §A.3: an ES256 token (`iss: joe`) valid at 1300819300, and its key.
    let jwks = r#"{"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
    let dir = std::env::temp_dir().join(format!("authgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks_file = dir.join("jwks.json");
    std::fs::write(&jwks_file, jwks).unwrap();
    let config = dir.join("remote.json");
    std::fs::write(&config, r#"{"providers": {"idp": {"type": "jwt", "issuer": "joe", "remote_jwks": {"uri": "https://idp.test/jwks", "cluster": "idp"}, "claim_to_headers": [{"claim_name": "iss", "header_name": "x-iss"}]}}}"#).unwrap();
    let token = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    let o = run(&[
        "explain",
        "--now",
        "1300819300",
        "--jwks",
        jwks_file.to_str().unwrap(),
        config.to_str().unwrap(),
        "GET",
        "/",
        "-H",
        &format!("authorization: Bearer {token}"),
    ]);
    let out = stdout(&o);
    assert!(
        out.contains("key set: 1 keys installed for provider idp"),
        "{out}"
    );
    assert!(out.contains("credential idp (Bearer): accepted"), "{out}");
    assert!(out.contains("+ x-iss: joe"), "{out}");
}

#[test]
fn explain_with_a_body_for_per_tool_rules() {
    let dir = std::env::temp_dir().join(format!("authgate-cli-mcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("mcp.json");
    std::fs::write(&config, r#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "bot", "key": "k-1"}]}},
        "rules": [{"match": {"prefix": "/mcp", "mcp": {"tools": ["delete_*"]}}, "requires": "k", "identities": ["admin"]},
                  {"match": {"prefix": "/mcp"}, "requires": "k"}]}"#).unwrap();
    let body = dir.join("call.json");
    let call = |tool: &str| {
        std::fs::write(
            &body,
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}"}}}}"#
            ),
        )
        .unwrap();
        let mut args = vec!["explain", config.to_str().unwrap(), "POST", "/mcp"];
        args.extend([
            "-H",
            "x-api-key: k-1",
            "-H",
            "content-type: application/json",
        ]);
        args.extend(["--body", body.to_str().unwrap()]);
        stdout(&run(&args))
    };
    let refused = call("delete_repo");
    assert!(
        refused.contains("rule: rules[0]") && refused.contains("403"),
        "{refused}"
    );
    let passed = call("search");
    assert!(
        passed.contains("rule: rules[1]") && passed.contains("passed upstream"),
        "{passed}"
    );
    let asked = stdout(&run(&[
        "explain",
        config.to_str().unwrap(),
        "POST",
        "/mcp",
        "-H",
        "x-api-key: k-1",
    ]));
    assert!(
        asked.contains("the filter would read the body first"),
        "{asked}"
    );
}

#[test]
fn hash_key_and_htpasswd() {
    let o = run(&["hash-key", "demo-key-1"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).trim().len(), 64);
    let mut child = Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(["htpasswd", "--cost", "4", "dana"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let o = child.wait_with_output().unwrap();
    let line = stdout(&o);
    assert!(line.starts_with("dana:$2y$04$"), "{line}");
    // The line loads into a basic provider and checks the password.
    let config = format!(
        r#"{{"providers": {{"staff": {{"type": "basic", "htpasswd": "{}"}}}}}}"#,
        line.trim()
    );
    let dir = std::env::temp_dir().join(format!("authgate-cli-h-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("basic.json");
    std::fs::write(&file, config).unwrap();
    let o = run(&[
        "explain",
        file.to_str().unwrap(),
        "GET",
        "/",
        "-H",
        "authorization: Basic ZGFuYTpzM2NyZXQ=",
    ]);
    assert!(
        stdout(&o).contains("credential staff (Basic): accepted: dana"),
        "{}",
        stdout(&o)
    );
    assert_eq!(run(&["htpasswd", "a:b"]).status.code(), Some(2));
    assert_eq!(run(&["nope"]).status.code(), Some(2));
}
