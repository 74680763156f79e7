//! Where signatures are verified, decided once at configure: by the host (Envoy's
//! `verify_signature`) unless the VM's environment asks for the module, and the start-up line
//! that says so.

use crate::capabilities::Host;
use std::rc::Rc;

/// The host's signature verification, unless the VM's environment sets
/// `AUTHGATE_SIGNATURES=module` (a diagnostic switch, and how the tests exercise both paths).
pub fn signature_path(host: &dyn Host) -> Option<Rc<dyn crate::crypto::HostSignatures>> {
    if host.env_var("AUTHGATE_SIGNATURES").as_deref() == Some("module") {
        return None;
    }
    host.signatures()
}

/// The start-up line that says where each algorithm is verified.
pub(super) fn signature_line(by_host: Option<&Rc<dyn crate::crypto::HostSignatures>>) -> String {
    match by_host {
        Some(host) => format!("authgate: signatures: {}", host.describe()),
        None => "authgate: signatures: every algorithm verified in the module but ES384 ES512, which only the host verifies (the host offers no verify_signature, or AUTHGATE_SIGNATURES=module)".into(),
    }
}
