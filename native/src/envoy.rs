//! Every call into Envoy's dynamic-module ABI, each in one function of this module: no other
//! file names an `envoy_dynamic_module_callback_*`. The functions that take a stream's pointer
//! (`filter`) or the configuration's are called with the pointer Envoy gave the hook running
//! now, and read what Envoy lends before they return; the scheduler calls that may run on
//! another thread are `unsafe fn`s whose callers say why the scheduler is still alive.

use super::abi::*;
use super::calls::SendPtr;
use std::os::raw::c_void;

/// Writes a log line through Envoy's logger (component `dynamic_modules`) at `level`.
pub fn log(level: u32, line: &str) {
    // SAFETY: a buffer of ours, valid for the call.
    unsafe { envoy_dynamic_module_callback_log(level, ModuleBuffer::from(line.as_bytes())) }
}

/// Whether Envoy would write a line at `level`.
pub fn log_enabled(level: u32) -> bool {
    // SAFETY: a plain call with an integer.
    unsafe { envoy_dynamic_module_callback_log_enabled(level) }
}

/// Every request header, each name and value copied once.
pub fn request_headers(filter: EnvoyPtr) -> Vec<(String, Vec<u8>)> {
    // SAFETY: the stream's pointer during its hook.
    let n = unsafe { envoy_dynamic_module_callback_http_get_headers_size(filter, HDR_REQUEST) };
    let mut raw = vec![
        EnvoyHttpHeader {
            key_ptr: std::ptr::null(),
            key_len: 0,
            value_ptr: std::ptr::null(),
            value_len: 0,
        };
        n
    ];
    if n == 0
        // SAFETY: the stream's pointer during its hook; `raw` holds the `n` entries Envoy said.
        || !unsafe {
            envoy_dynamic_module_callback_http_get_headers(filter, HDR_REQUEST, raw.as_mut_ptr())
        }
    {
        return Vec::new();
    }
    raw.iter()
        .map(|h| {
            let (key, value) = (
                EnvoyBuffer {
                    ptr: h.key_ptr,
                    len: h.key_len,
                },
                EnvoyBuffer {
                    ptr: h.value_ptr,
                    len: h.value_len,
                },
            );
            // SAFETY: Envoy's memory, lent for this hook and copied out before it returns.
            let (key, value) = unsafe { (key.as_bytes(), value.as_bytes()) };
            (String::from_utf8_lossy(key).into_owned(), value.to_vec())
        })
        .collect()
}

/// An attribute of the stream as a string (`ATTR_*`), when Envoy has it.
pub fn attribute(filter: EnvoyPtr, id: u32) -> Option<String> {
    let mut out = EnvoyBuffer::NULL;
    // SAFETY: the stream's pointer during its hook; Envoy's buffer read before returning.
    let found = unsafe {
        envoy_dynamic_module_callback_http_filter_get_attribute_string(filter, id, &mut out)
    };
    // SAFETY: as above.
    found.then(|| String::from_utf8_lossy(unsafe { out.as_bytes() }).into_owned())
}

/// Adds `by` to counter `id` (defined with the configuration), through the stream.
pub fn increment_counter(filter: EnvoyPtr, id: usize, by: u64) {
    // SAFETY: the stream's pointer during its hook; no labels.
    unsafe {
        envoy_dynamic_module_callback_http_filter_increment_counter(
            filter,
            id,
            std::ptr::null_mut(),
            0,
            by,
        );
    }
}

/// Defines a counter of the configuration; its id, or `None` when Envoy refuses it.
pub fn define_counter(config: EnvoyPtr, name: &str) -> Option<usize> {
    let mut id = 0usize;
    // SAFETY: the configuration's pointer during config_new; our name buffer; no labels.
    let r = unsafe {
        envoy_dynamic_module_callback_http_filter_config_define_counter(
            config,
            ModuleBuffer::from(name.as_bytes()),
            std::ptr::null_mut(),
            0,
            &mut id,
        )
    };
    (r == METRICS_SUCCESS).then_some(id)
}

/// Lets a stream whose request headers were stopped go on.
pub fn continue_decoding(filter: EnvoyPtr) {
    // SAFETY: the stream's pointer during one of its hooks.
    unsafe { envoy_dynamic_module_callback_http_filter_continue_decoding(filter) };
}

/// Answers the stream locally: `status`, `headers`, `body`; Envoy's details say `authgate`.
pub fn send_response(filter: EnvoyPtr, status: u32, headers: &[(&str, &str)], body: &[u8]) {
    let mut raw = module_headers(headers);
    // SAFETY: the stream's pointer during its hook; our buffers, valid for the call.
    unsafe {
        envoy_dynamic_module_callback_http_send_response(
            filter,
            status,
            raw.as_mut_ptr(),
            raw.len(),
            ModuleBuffer::from(body),
            ModuleBuffer::from(b"authgate"),
        );
    }
}

/// Whether the body just received by the request (`true`) or answer hook is what Envoy
/// buffered (a filter before this one handed the buffer on).
pub fn received_is_buffered(filter: EnvoyPtr, request: bool) -> bool {
    // SAFETY: the stream's pointer during its hook.
    unsafe {
        match request {
            true => envoy_dynamic_module_callback_http_received_buffered_request_body(filter),
            false => envoy_dynamic_module_callback_http_received_buffered_response_body(filter),
        }
    }
}

/// How many bytes body `kind` (`BODY_*`) holds.
pub fn body_size(filter: EnvoyPtr, kind: u32) -> usize {
    // SAFETY: the stream's pointer during its hook.
    unsafe { envoy_dynamic_module_callback_http_get_body_size(filter, kind) }
}

/// Appends what body `kind` holds to `out`, copied out of Envoy's chunks.
pub fn read_body(filter: EnvoyPtr, kind: u32, out: &mut Vec<u8>) {
    // SAFETY: the stream's pointer during its hook; the array sized as Envoy said, its chunks
    // read before the hook returns.
    unsafe {
        let n = envoy_dynamic_module_callback_http_get_body_chunks_size(filter, kind);
        let mut chunks = vec![EnvoyBuffer::NULL; n];
        if n > 0
            && envoy_dynamic_module_callback_http_get_body_chunks(filter, kind, chunks.as_mut_ptr())
        {
            for c in &chunks {
                out.extend_from_slice(c.as_bytes());
            }
        }
    }
}

/// Empties body `kind`; `false` when it is absent.
pub fn drain_body(filter: EnvoyPtr, kind: u32) -> bool {
    // SAFETY: the stream's pointer during its hook.
    unsafe { envoy_dynamic_module_callback_http_drain_body(filter, kind, usize::MAX) }
}

/// Appends `bytes` to body `kind`; `false` when it is absent.
pub fn append_body(filter: EnvoyPtr, kind: u32, bytes: &[u8]) -> bool {
    // SAFETY: the stream's pointer during its hook; our buffer, for the call.
    unsafe {
        envoy_dynamic_module_callback_http_append_body(filter, kind, ModuleBuffer::from(bytes))
    }
}

/// A scheduler for the stream (its wake-ups); null when Envoy gives none.
pub fn scheduler_new(filter: EnvoyPtr) -> *mut c_void {
    // SAFETY: the stream's pointer during its hook.
    unsafe { envoy_dynamic_module_callback_http_filter_scheduler_new(filter) }
}

/// Wakes the stream of scheduler `s` with `event` (any thread).
///
/// # Safety
/// `s` is a stream's scheduler not yet deleted.
pub unsafe fn scheduler_commit(s: SendPtr, event: u64) {
    // SAFETY: the caller's promise; commit is thread-safe in the ABI.
    unsafe { envoy_dynamic_module_callback_http_filter_scheduler_commit(s.get(), event) };
}

/// Deletes a stream's scheduler.
///
/// # Safety
/// `s` is a scheduler of the stream running this hook, deleted once, that no other thread
/// commits any more.
pub unsafe fn scheduler_delete(s: *mut c_void) {
    // SAFETY: the caller's promise.
    unsafe { envoy_dynamic_module_callback_http_filter_scheduler_delete(s) };
}

/// A scheduler for the configuration (its main-thread events); null when Envoy gives none.
pub fn config_scheduler_new(config: EnvoyPtr) -> *mut c_void {
    // SAFETY: the configuration's pointer during config_new.
    unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_new(config) }
}

/// Runs the configuration's scheduled hook on the main thread with `event` (any thread).
///
/// # Safety
/// `s` is the configuration's scheduler, not yet deleted.
pub unsafe fn config_scheduler_commit(s: SendPtr, event: u64) {
    // SAFETY: the caller's promise; commit is thread-safe in the ABI.
    unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_commit(s.get(), event) };
}

/// Deletes the configuration's scheduler.
///
/// # Safety
/// `s` is the configuration's scheduler, deleted once, that nothing commits any more.
pub unsafe fn config_scheduler_delete(s: SendPtr) {
    // SAFETY: the caller's promise.
    unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_delete(s.get()) };
}

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
fn module_headers<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Vec<ModuleHttpHeader> {
    pairs
        .iter()
        .map(|(k, v)| ModuleHttpHeader::new(k.as_ref().as_bytes(), v.as_ref().as_bytes()))
        .collect()
}

/// The ABI's two callout calls: a stream's and the configuration's.
type CalloutFn = unsafe extern "C" fn(
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

/// Starts a callout from the stream (answered to it, gone with it): Envoy's callout id, or the
/// result code it refused with.
pub fn stream_callout<K: AsRef<str>, V: AsRef<str>>(
    filter: EnvoyPtr,
    out: &Outgoing<K, V>,
) -> Result<u64, u32> {
    callout(
        envoy_dynamic_module_callback_http_filter_http_callout,
        filter,
        out,
    )
}

/// Starts a callout from the configuration (main thread; answered to its hook).
pub fn config_callout<K: AsRef<str>, V: AsRef<str>>(
    config: EnvoyPtr,
    out: &Outgoing<K, V>,
) -> Result<u64, u32> {
    callout(
        envoy_dynamic_module_callback_http_filter_config_http_callout,
        config,
        out,
    )
}

/// Starts a callout with `call` from `owner` (the stream's or the configuration's pointer,
/// as `call` takes it).
fn callout<K: AsRef<str>, V: AsRef<str>>(
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

/// A callout's `:status` (`None`: no answer) and body, copied out of Envoy's arrays.
///
/// # Safety
/// The arrays Envoy passed to a callout-done hook, during it.
pub unsafe fn answer_of(
    result: u32,
    (headers, n): (*const EnvoyHttpHeader, usize),
    (chunks, m): (*const EnvoyBuffer, usize),
) -> (Option<String>, Vec<u8>) {
    if result != CALLOUT_SUCCESS {
        return (None, Vec::new());
    }
    let headers: &[EnvoyHttpHeader] = match headers.is_null() {
        true => &[],
        // SAFETY: Envoy's array of `n` headers, lent for this hook (the caller's promise).
        false => unsafe { std::slice::from_raw_parts(headers, n) },
    };
    let status = headers.iter().find_map(|h| {
        let key = EnvoyBuffer {
            ptr: h.key_ptr,
            len: h.key_len,
        };
        let value = EnvoyBuffer {
            ptr: h.value_ptr,
            len: h.value_len,
        };
        // SAFETY: a header of that array, lent for this hook.
        let (key, value) = unsafe { (key.as_bytes(), value.as_bytes()) };
        (key == b":status").then(|| String::from_utf8_lossy(value).into_owned())
    });
    let chunks: &[EnvoyBuffer] = match chunks.is_null() {
        true => &[],
        // SAFETY: Envoy's array of `m` body chunks, lent for this hook.
        false => unsafe { std::slice::from_raw_parts(chunks, m) },
    };
    let mut body = Vec::new();
    for c in chunks {
        // SAFETY: a chunk of that array, lent for this hook.
        body.extend_from_slice(unsafe { c.as_bytes() });
    }
    (status, body)
}
