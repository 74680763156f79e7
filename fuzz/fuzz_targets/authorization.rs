//! The Authorization header and Basic credentials: parse, then check against a provider.
#![no_main]
use authgate::authorization::Authorization;
use authgate::providers::basic::{BasicProvider, RawBasic};
use authgate::providers::Setup;
use libfuzzer_sys::fuzz_target;

thread_local! {
    // The provider holds per-worker state (its cache, a RefCell), as in Envoy: one per thread.
    static PROVIDER: BasicProvider = BasicProvider::compile(
        &Setup { name: "f", secret: [0; 32], signatures: None, audiences: &[], env: authgate::providers::NO_ENV, random: None },
        &RawBasic {
            htpasswd: "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=".into(),
            forward_username_header: Some("x-user".into()),
            hide_credentials: Some(true),
        },
    )
    .unwrap();
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let auth = Authorization::parse(Some(s));
    if let Some(creds) = auth.for_scheme("basic") {
        PROVIDER.with(|p| {
            let _ = p.check(creds);
        });
    }
});
