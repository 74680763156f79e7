//! Whether the Envoy that loaded the module exports every callback the module calls. Envoy
//! only warns when a module's ABI version differs from its own and runs it anyway, and promises
//! that a module built for ABI v0.N keeps working on the next minor version, which may add
//! callbacks but not take them away. So the module reads the names Envoy's executable exports
//! (its dynamic symbol table) and refuses to start, naming them, when one it calls is missing;
//! an Envoy that exports more is accepted.

use std::io::{Read, Seek, SeekFrom};

/// Every callback the module calls: the functions `abi.rs` declares (a test keeps the two
/// lists equal).
pub const NEEDED: &[&str] = &[
    "envoy_dynamic_module_callback_get_concurrency",
    "envoy_dynamic_module_callback_http_add_header",
    "envoy_dynamic_module_callback_http_append_body",
    "envoy_dynamic_module_callback_http_drain_body",
    "envoy_dynamic_module_callback_http_filter_config_define_counter",
    "envoy_dynamic_module_callback_http_filter_config_http_callout",
    "envoy_dynamic_module_callback_http_filter_config_scheduler_commit",
    "envoy_dynamic_module_callback_http_filter_config_scheduler_delete",
    "envoy_dynamic_module_callback_http_filter_config_scheduler_new",
    "envoy_dynamic_module_callback_http_filter_continue_decoding",
    "envoy_dynamic_module_callback_http_filter_continue_encoding",
    "envoy_dynamic_module_callback_http_filter_get_attribute_bool",
    "envoy_dynamic_module_callback_http_filter_get_attribute_int",
    "envoy_dynamic_module_callback_http_filter_get_attribute_string",
    "envoy_dynamic_module_callback_http_filter_get_worker_index",
    "envoy_dynamic_module_callback_http_filter_http_callout",
    "envoy_dynamic_module_callback_http_filter_increment_counter",
    "envoy_dynamic_module_callback_http_filter_scheduler_commit",
    "envoy_dynamic_module_callback_http_filter_scheduler_delete",
    "envoy_dynamic_module_callback_http_filter_scheduler_new",
    "envoy_dynamic_module_callback_http_get_body_chunks",
    "envoy_dynamic_module_callback_http_get_body_chunks_size",
    "envoy_dynamic_module_callback_http_get_body_size",
    "envoy_dynamic_module_callback_http_get_filter_state_bytes",
    "envoy_dynamic_module_callback_http_get_header",
    "envoy_dynamic_module_callback_http_get_headers",
    "envoy_dynamic_module_callback_http_get_headers_size",
    "envoy_dynamic_module_callback_http_received_buffered_request_body",
    "envoy_dynamic_module_callback_http_received_buffered_response_body",
    "envoy_dynamic_module_callback_http_send_response",
    "envoy_dynamic_module_callback_http_set_filter_state_bytes",
    "envoy_dynamic_module_callback_http_set_header",
    "envoy_dynamic_module_callback_log",
    "envoy_dynamic_module_callback_log_enabled",
];

const PREFIX: &[u8] = b"envoy_dynamic_module_callback_";

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn read_at(f: &mut std::fs::File, offset: u64, len: u64) -> Option<Vec<u8>> {
    // A dynamic symbol table is kilobytes; refuse to read a gigabyte for one.
    if len > 64 << 20 {
        return None;
    }
    let mut out = vec![0u8; usize::try_from(len).ok()?];
    f.seek(SeekFrom::Start(offset)).ok()?;
    f.read_exact(&mut out).ok()?;
    Some(out)
}

/// The callback names an ELF64 little-endian executable defines in its dynamic symbol table;
/// `None` when it cannot be read as one.
pub fn exported_callbacks(path: &str) -> Option<Vec<Vec<u8>>> {
    let mut f = std::fs::File::open(path).ok()?;
    let head = read_at(&mut f, 0, 64)?;
    // ELF magic, 64-bit, little-endian.
    if head.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (shoff, shentsize, shnum) = (
        u64_at(&head, 0x28)?,
        u16_at(&head, 0x3a)?,
        u16_at(&head, 0x3c)?,
    );
    if shentsize != 64 {
        return None;
    }
    let sections = read_at(&mut f, shoff, u64::from(shnum) * 64)?;
    let section = |i: usize| sections.get(i * 64..i * 64 + 64);
    const SHT_DYNSYM: u32 = 11;
    let dynsym = (0..usize::from(shnum))
        .filter_map(section)
        .find(|s| u32_at(s, 4) == Some(SHT_DYNSYM))?;
    let strtab = section(usize::try_from(u32_at(dynsym, 40)?).ok()?)?;
    let syms = read_at(&mut f, u64_at(dynsym, 24)?, u64_at(dynsym, 32)?)?;
    let strs = read_at(&mut f, u64_at(strtab, 24)?, u64_at(strtab, 32)?)?;
    let mut names = Vec::new();
    for sym in syms.chunks_exact(24) {
        // Defined here (not an import): a section index other than SHN_UNDEF.
        if u16_at(sym, 6)? == 0 {
            continue;
        }
        let start = usize::try_from(u32_at(sym, 0)?).ok()?;
        let rest = strs.get(start..)?;
        let name = &rest[..rest.iter().position(|&b| b == 0)?];
        if name.starts_with(PREFIX) {
            names.push(name.to_vec());
        }
    }
    Some(names)
}

/// The callbacks of [`NEEDED`] that `exported` lacks.
pub fn missing(exported: &[Vec<u8>]) -> Vec<&'static str> {
    NEEDED
        .iter()
        .filter(|n| !exported.iter().any(|e| e == n.as_bytes()))
        .copied()
        .collect()
}

/// `None` when the running Envoy exports every callback the module calls; otherwise the line
/// that says why the module will not start.
pub fn refusal() -> Option<String> {
    let Some(names) = exported_callbacks("/proc/self/exe") else {
        return Some("authgate: refusing to start: cannot read this Envoy's exported callbacks (/proc/self/exe), so cannot tell whether it has those the module calls".into());
    };
    let missing = missing(&names);
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "authgate: refusing to start: this Envoy does not export {} of the {} dynamic-module callbacks the module calls (built for the ABI v0.2.0 of Envoy 1.40): {}; use the wasm filter, or an authgate built for this Envoy",
        missing.len(),
        NEEDED.len(),
        missing.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needed_is_what_abi_rs_declares() {
        let src = include_str!("abi.rs");
        let mut declared: Vec<&str> = src
            .split("fn ")
            .skip(1)
            .filter_map(|s| s.split('(').next())
            .filter(|n| n.starts_with("envoy_dynamic_module_callback_"))
            .collect();
        declared.sort();
        declared.dedup();
        let mut needed = NEEDED.to_vec();
        needed.sort();
        assert_eq!(needed, declared);
    }

    #[test]
    fn an_envoy_that_exports_more_is_accepted_one_that_lacks_one_is_refused() {
        let mut all: Vec<Vec<u8>> = NEEDED.iter().map(|n| n.as_bytes().to_vec()).collect();
        all.push(b"envoy_dynamic_module_callback_of_a_later_envoy".to_vec());
        assert!(missing(&all).is_empty());
        all.retain(|n| n != b"envoy_dynamic_module_callback_log");
        assert_eq!(missing(&all), ["envoy_dynamic_module_callback_log"]);
    }

    #[test]
    fn an_executable_without_envoys_callbacks_is_refused() {
        // The test binary is an ELF executable that exports none.
        assert_eq!(exported_callbacks("/proc/self/exe"), Some(Vec::new()));
        let why = refusal().unwrap_or_default();
        assert!(
            why.contains(&format!(
                "does not export {n} of the {n} dynamic-module callbacks",
                n = NEEDED.len()
            )),
            "{why}"
        );
        assert!(
            why.contains("envoy_dynamic_module_callback_log,"),
            "names them: {why}"
        );
        assert_eq!(exported_callbacks("/nonexistent"), None);
        assert_eq!(exported_callbacks("Cargo.toml"), None);
    }

    #[test]
    fn only_envoy_rs_calls_the_abi() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut callers = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".rs")
                || ["abi.rs", "abi_check.rs", "envoy.rs"].contains(&name.as_str())
            {
                continue;
            }
            if std::fs::read_to_string(&path)
                .unwrap()
                .contains("envoy_dynamic_module_callback_")
            {
                callers.push(name);
            }
        }
        assert!(
            callers.is_empty(),
            "ABI calls outside envoy.rs: {callers:?}"
        );
    }
}
