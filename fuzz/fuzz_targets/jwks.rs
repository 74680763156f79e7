//! JWKS bodies as a remote endpoint could serve them.
#![no_main]
use authgate::providers::jwt::remote::RemoteJwks;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = RemoteJwks::parse(data, true);
});
