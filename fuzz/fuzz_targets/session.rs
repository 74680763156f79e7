//! What a browser sends back to the sign-in: sealed cookie values, their contents once opened,
//! the callback's query and the return address. Nothing here may panic, a value that opens
//! must be one this key sealed, and a return address never leaves the site.
#![no_main]
use authgate::providers::oidc::flow::Callback;
use authgate::session::return_address;
use authgate::session::{cookies, payload, seal::Sealer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let sealer = Sealer::new(&[b"fuzz-key-fuzz-key-fuzz-key-fuzz-".to_vec()]).unwrap();
    assert!(sealer.open("__Host-authgate", s).is_err(), "an unsealed value never opens");
    let _ = payload::Session::from_json(data, 1);
    if let Some(p) = payload::Pending::from_json(data, 1) {
        assert!(p.return_to.starts_with('/') && !p.return_to.starts_with("//"));
    }
    let _ = Callback::parse(s);
    let to = return_address(s);
    assert!(to.starts_with('/') && !to.starts_with("//") && !to.starts_with("/\\"));
    let pairs: Vec<(&str, &str)> = authgate::request::cookies(s).collect();
    let _ = cookies::get(&pairs, "__Host-authgate");
});
