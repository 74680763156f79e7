//! The request's authority (`:authority` / `Host`): whether it is one `host[:port]`, how it
//! splits, whether a resource covers it. A value that passes is one host with at most one
//! port: no comma, no whitespace, no userinfo.
#![no_main]
use authgate::request::valid_authority;
use authgate::rules::{host_of, split_authority};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static RESOURCE: authgate::resource::Resource = authgate::resource::Resource::compile(
        &authgate::schema::section("", serde_json::json!({
            "id": "https://api.example.com/mcp", "authorization_servers": ["https://as.example.com"]
        })).unwrap(),
        &["header"],
        serde_json::Map::new(),
    ).unwrap();
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (authority, path) = s.split_once('\n').unwrap_or((s, "/mcp"));
    let (host, port) = split_authority(authority);
    assert_eq!(host, host_of(authority));
    if valid_authority(authority) {
        assert!(!authority.contains([',', ' ', '\t', '@', '/']), "{authority:?}");
        assert!(!host.is_empty() && !host.contains(','), "{authority:?}");
        assert!(port.is_none_or(|p| p.parse::<u16>().is_ok()), "{authority:?}");
    }
    RESOURCE.with(|r| {
        let _ = r.covers(Some(authority), path);
    });
});
