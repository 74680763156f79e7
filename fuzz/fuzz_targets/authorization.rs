//! The Authorization header and Basic credentials: parse, then check against a provider.
#![no_main]
use authgate::authorization::Authorization;
use authgate::config::raw::RawBasic;
use authgate::providers::basic::{BasicCache, BasicProvider};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn provider() -> &'static BasicProvider {
    static P: OnceLock<BasicProvider> = OnceLock::new();
    P.get_or_init(|| {
        BasicProvider::compile(
            "f",
            &RawBasic {
                htpasswd: "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=".into(),
                forward_username_header: Some("x-user".into()),
                hide_credentials: Some(true),
            },
        )
        .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let auth = Authorization::parse(Some(s));
    if let Some(creds) = auth.for_scheme("basic") {
        let mut cache = BasicCache::new([0; 32], 16);
        let _ = provider().verify(creds, &mut cache);
    }
});
