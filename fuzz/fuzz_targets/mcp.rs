//! An MCP request body and the headers that mirror it: nothing panics, a body that parses is
//! one message, headers equal to the body always agree with it, and a wildcard pattern
//! without `*` matches only itself.
#![no_main]
use authgate::mcp::jsonrpc::{check_headers, header_value, matches, parse};
use authgate::mcp::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = parse(data) {
        if let Message::Call(call) = &message {
            assert!(check_headers(&message, Some(&call.method), call.name.as_deref()).is_ok());
        }
    }
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = header_value(s);
    let (pattern, name) = s.split_once('\n').unwrap_or((s, s));
    let m = matches(pattern, name);
    if !pattern.contains('*') {
        assert_eq!(m, pattern == name);
    }
});
