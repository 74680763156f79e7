//! The ABI calls more than one hook makes, each in one safe function: reading and writing a
//! header of the stream, and starting a callout (a stream's or the configuration's, whose
//! calls differ only by whose pointer they take).

use super::abi::*;

/// The first value of header `name` of part `kind` (`HDR_REQUEST`, `HDR_RESPONSE`).
pub fn header(filter: EnvoyPtr, kind: u32, name: &str) -> Option<String> {
    let mut out = EnvoyBuffer::NULL;
    // SAFETY: the stream's pointer during its hook; Envoy's buffer read before returning.
    let found = unsafe {
        envoy_dynamic_module_callback_http_get_header(
            filter,
            kind,
            ModuleBuffer::from(name.as_bytes()),
            &mut out,
            0,
            std::ptr::null_mut(),
        )
    };
    // SAFETY: as above.
    found.then(|| String::from_utf8_lossy(unsafe { out.as_bytes() }).into_owned())
}

/// Sets header `name` of part `kind` to `value`, or removes it (`None`); `false` when Envoy
/// would not.
pub fn set_header(filter: EnvoyPtr, kind: u32, name: &str, value: Option<&str>) -> bool {
    let value = value.map_or(ModuleBuffer::NULL, |v| ModuleBuffer::from(v.as_bytes()));
    // SAFETY: the stream's pointer during its hook; our buffers, for the call.
    unsafe {
        envoy_dynamic_module_callback_http_set_header(
            filter,
            kind,
            ModuleBuffer::from(name.as_bytes()),
            value,
        )
    }
}

/// Adds a header `name: value` to part `kind`; `false` when Envoy would not.
pub fn add_header(filter: EnvoyPtr, kind: u32, name: &str, value: &str) -> bool {
    // SAFETY: the stream's pointer during its hook; our buffers, for the call.
    unsafe {
        envoy_dynamic_module_callback_http_add_header(
            filter,
            kind,
            ModuleBuffer::from(name.as_bytes()),
            ModuleBuffer::from(value.as_bytes()),
        )
    }
}

/// Pairs as the ABI takes them; they borrow from `pairs`, which must outlive the call.
pub fn module_headers<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Vec<ModuleHttpHeader> {
    pairs
        .iter()
        .map(|(k, v)| ModuleHttpHeader::new(k.as_ref().as_bytes(), v.as_ref().as_bytes()))
        .collect()
}

/// The ABI's two callout calls: a stream's and the configuration's.
pub type CalloutFn = unsafe extern "C" fn(
    EnvoyPtr,
    *mut u64,
    ModuleBuffer,
    *mut ModuleHttpHeader,
    usize,
    ModuleBuffer,
    u64,
) -> u32;

/// What a callout sends.
pub struct Outgoing<'a, K, V> {
    pub cluster: &'a str,
    pub headers: &'a [(K, V)],
    pub body: Option<&'a [u8]>,
    pub timeout_ms: u64,
}

/// Starts a callout with `call` from `owner` (the stream's or the configuration's pointer,
/// as `call` takes it): Envoy's callout id, or the result code it refused with.
pub fn callout<K: AsRef<str>, V: AsRef<str>>(
    call: CalloutFn,
    owner: EnvoyPtr,
    out: &Outgoing<K, V>,
) -> Result<u64, u32> {
    let mut raw = module_headers(out.headers);
    let body = out.body.map_or(ModuleBuffer::NULL, ModuleBuffer::from);
    let mut id = 0u64;
    // SAFETY: `owner` is what `call` takes, during a hook of its thread; our buffers, for the
    // call.
    let r = unsafe {
        call(
            owner,
            &mut id,
            ModuleBuffer::from(out.cluster.as_bytes()),
            raw.as_mut_ptr(),
            raw.len(),
            body,
            out.timeout_ms,
        )
    };
    match r {
        CALLOUT_INIT_SUCCESS => Ok(id),
        refused => Err(refused),
    }
}
