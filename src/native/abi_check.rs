//! Whether the Envoy that loaded the module speaks the ABI the module was built for. Envoy 1.40
//! only warns when a module's ABI version differs from its own, and runs it anyway; and a
//! callback can change its meaning under the same name. Envoy does not say its version to a
//! module, but its executable exports every callback of its ABI by name: the module reads those
//! names from the executable's dynamic symbol table and compares them with the set Envoy 1.40
//! exports. Another set is another ABI, and the module refuses to start.

use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};

/// The callbacks Envoy 1.40.0 defines in its dynamic symbol table (`readelf --dyn-syms`):
/// how many, and the first 8 bytes of the SHA-256 of their names, sorted, one per line.
pub const ENVOY_1_40: (usize, [u8; 8]) = (781, [0x58, 0xcd, 0x3d, 0x24, 0x07, 0xc6, 0xf7, 0x46]);

const PREFIX: &[u8] = b"envoy_dynamic_module_callback_";

/// The fingerprint of a set of callback names, as [`ENVOY_1_40`] is written.
pub fn fingerprint(mut names: Vec<Vec<u8>>) -> (usize, [u8; 8]) {
    names.sort();
    names.dedup();
    let mut h = Sha256::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            h.update(b"\n");
        }
        h.update(n);
    }
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize()[..8]);
    (names.len(), out)
}

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

/// `None` when the running Envoy exports Envoy 1.40's callbacks; otherwise the line that says
/// why the module will not start.
pub fn refusal() -> Option<String> {
    let Some(names) = exported_callbacks("/proc/self/exe") else {
        return Some("authgate: refusing to start: cannot read this Envoy's exported callbacks (/proc/self/exe), so cannot tell its dynamic-module ABI".into());
    };
    let (n, fp) = fingerprint(names);
    if (n, fp) == ENVOY_1_40 {
        return None;
    }
    Some(format!(
        "authgate: refusing to start: this Envoy's dynamic-module ABI is not v0.2.0 (Envoy 1.40), which the module was built for: it exports {n} callbacks where Envoy 1.40 exports {} (or other ones); use the wasm filter, or an authgate built for this Envoy",
        ENVOY_1_40.0
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_of_the_set_of_names() {
        let a = fingerprint(vec![b"b".to_vec(), b"a".to_vec(), b"a".to_vec()]);
        let b = fingerprint(vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(a, b, "order and repeats do not count");
        assert_eq!(a.0, 2);
        assert_ne!(a, fingerprint(vec![b"a".to_vec()]));
    }

    #[test]
    fn an_executable_without_envoys_callbacks_is_refused() {
        // The test binary is an ELF executable that exports none.
        assert_eq!(exported_callbacks("/proc/self/exe"), Some(Vec::new()));
        let why = refusal().unwrap_or_default();
        assert!(
            why.contains("exports 0 callbacks where Envoy 1.40 exports 781"),
            "{why}"
        );
        assert_eq!(exported_callbacks("/nonexistent"), None);
        assert_eq!(exported_callbacks("Cargo.toml"), None);
    }
}
