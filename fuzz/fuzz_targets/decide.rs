//! The whole decide-and-reply step on an arbitrary request: the input is `METHOD PATH` on the
//! first line and `name: value` header lines after it.
#![no_main]
use authgate::{Engine, HeaderList};
use libfuzzer_sys::fuzz_target;
thread_local! {
    // The engine holds per-worker state (caches in RefCells), as in Envoy: one per thread.
    static ENGINE: Engine = engine();
}

fn engine() -> Engine {
    {
        let mut config: serde_json::Value =
            serde_json::from_str(include_str!("../../demo/authgate.json")).unwrap();
        // A local key set instead of the remote one: nothing waits in a fuzzer.
        config["providers"]["idp"]["remote_jwks"] = serde_json::Value::Null;
        config["providers"]["idp"].as_object_mut().unwrap().remove("remote_jwks");
        config["providers"]["idp"]["local_jwks"] = serde_json::from_str(include_str!("../../demo/jwks.json")).unwrap();
        config["response"] = serde_json::json!({"docs_url": "https://docs.example", "extra": {"k": 1}});
        // bcrypt would make every input slow; {SHA} keeps the fuzzer fast.
        config["providers"]["staff"]["htpasswd"] = "bob:{SHA}9SMYoF5RilWWASry7TjeaKwmpGg=".into();
        // The demo's secrets come from the VM's environment, and sign-in needs randomness:
        // given here as the Envoy configurations give them.
        let env = |name: &str| -> Option<String> {
            match name {
                "DEMO_IDP_SECRET" => Some("fuzz".into()),
                "DEMO_WEB_SECRET" => Some("web-secret".into()),
                "DEMO_COOKIE_KEYS" => Some("ZGVtby1vbmx5LWNvb2tpZS1rZXktMzItYnl0ZXMhISE=".into()),
                _ => None,
            }
        };
        let random: authgate::capabilities::Random = std::rc::Rc::new(|b: &mut [u8]| {
            b.fill(7);
            true
        });
        Engine::from_json_with(config.to_string().as_bytes(), [0; 32], None, &env, Some(random))
            .unwrap_or_else(|e| panic!("the fuzzed configuration does not load: {e}"))
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let mut lines = s.split('\n');
    let first = lines.next().unwrap_or("");
    let (method, path) = first.split_once(' ').unwrap_or((first, "/"));
    let headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(": ")).collect();
    let view = HeaderList::new(method, path, &headers);
    let d = ENGINE.with(|e| e.decide(&view, 1_700_000_000));
    if let authgate::Decision::Deny(denied) = d {
        // Replies are always valid JSON or HTML with the status the policy says (302: a
        // person without a session, sent to sign in).
        assert!(matches!(denied.reply.status, 302 | 400 | 401 | 403 | 429));
        if denied.reply.headers[0].1 == "application/problem+json" {
            serde_json::from_str::<serde_json::Value>(&denied.reply.body).unwrap();
        }
    }
});
