//! Envoy's `verify_signature` foreign function as the core's [`HostSignatures`]. Called through
//! the raw host function: the SDK's wrapper panics on a status it does not expect, and here
//! every unexpected status is simply "not valid".

use authgate::crypto::{host_call, HostSignatures};
use std::ptr::null_mut;
use std::rc::Rc;

const NAME: &str = "verify_signature";
const NOT_FOUND: u32 = 1;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        results_data: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
}

/// Calls the function; `(status, result bytes)`.
fn call(arguments: &[u8]) -> (u32, Vec<u8>) {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: the pointers name live buffers of the given sizes; on return the host has
    // either left `data` null or pointed it at `size` bytes it allocated through this
    // module's `proxy_on_memory_allocate` (a boxed slice), which we then own.
    unsafe {
        let status = proxy_call_foreign_function(
            NAME.as_ptr(),
            NAME.len(),
            arguments.as_ptr(),
            arguments.len(),
            &mut data,
            &mut size,
        );
        let result = if data.is_null() {
            Vec::new()
        } else {
            Vec::from_raw_parts(data, size, size)
        };
        (status, result)
    }
}

/// Envoy's signature check.
pub struct EnvoySignatures;

impl EnvoySignatures {
    /// The function, when this host registered it: an empty call answers anything but
    /// "not found" where it exists.
    pub fn probe() -> Option<Rc<dyn HostSignatures>> {
        let (status, _) = call(&[]);
        (status != NOT_FOUND).then(|| Rc::new(EnvoySignatures) as Rc<dyn HostSignatures>)
    }
}

impl HostSignatures for EnvoySignatures {
    fn verify(&self, hash: &str, spki: &[u8], signature: &[u8], message: &[u8]) -> bool {
        let (status, result) = call(&host_call::arguments(hash, spki, signature, message));
        status == 0 && host_call::verified(&result)
    }
}
