//! The request path in normal form, which rules match on. A normal form is normal (normalising
//! it again changes nothing), starts with `/`, has no dot segment and no `//`, and is refused
//! or kept the same way whatever form of it was sent.
#![no_main]
use authgate::path::normal;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else { return };
    let Ok(n) = normal(path) else { return };
    let p = n.path.as_ref();
    assert!(p.starts_with('/'), "{p:?}");
    assert!(!p.contains("//"), "{p:?}");
    assert!(!p.split('/').any(|s| s == "." || s == ".."), "{p:?}");
    let again = normal(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    assert_eq!(again.path, p, "idempotent");
    assert!(!again.had_dots);
});
