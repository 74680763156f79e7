//! A list answer from an MCP server on its way to the client, JSON or an event stream, in two
//! chunks split anywhere: nothing panics; when nothing is to be hidden, every byte passes
//! unchanged; a JSON answer that was read and cut is still JSON, and holds no hidden name.
#![no_main]
use authgate::json::parse_strict;
use authgate::mcp::answer::{Cutter, Emit};
use authgate::mcp::select::Kind;
use libfuzzer_sys::fuzz_target;

/// What the client gets, with the adapter's part played: a JSON answer is held by the proxy
/// (each call sees all of it so far), an event stream goes chunk by chunk.
fn run(data: &[u8], split: usize, form: &str, keep: &mut dyn FnMut(&str) -> bool) -> Vec<u8> {
    let Some(mut c) = Cutter::new(Kind::Tool, Some(form), None) else {
        return data.to_vec();
    };
    if form == "application/json" {
        return match c.push(&data[..split], false, keep) {
            Emit::Hold => match c.push(data, true, keep) {
                Emit::Replace(out) => out,
                Emit::Pass => data.to_vec(),
                Emit::Hold => panic!("held at the end"),
            },
            Emit::Pass => data.to_vec(),
            Emit::Replace(_) => panic!("a JSON answer replaced before its end"),
        };
    }
    let mut out = Vec::new();
    for (chunk, end) in [(&data[..split], false), (&data[split..], true)] {
        match c.push(chunk, end, keep) {
            Emit::Replace(b) => out.extend(b),
            Emit::Pass => out.extend_from_slice(chunk),
            Emit::Hold => panic!("an event stream held by the proxy"),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    for form in ["application/json", "text/event-stream"] {
        assert_eq!(run(data, split, form, &mut |_| true), data, "{form}: nothing hidden");
        let out = run(data, split, form, &mut |n| !n.starts_with('d'));
        if form == "application/json" && out != data {
            let v = parse_strict(&out).expect("a cut answer is JSON");
            let tools = v["result"]["tools"].as_array().expect("with its list");
            assert!(tools.iter().all(|t| !t["name"].as_str().is_some_and(|n| n.starts_with('d'))));
        }
    }
});
