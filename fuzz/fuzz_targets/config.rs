//! Plugin configurations: JSON text or protobuf Struct bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = authgate::config::compile(data, [0; 32]);
});
