//! Header maps and buffers through the raw proxy-wasm host calls, each returning the host's
//! status. The SDK's wrappers panic on any status they did not expect — Envoy answers
//! `BadArgument` for the headers of a call that failed (reset, closed early, over its buffer)
//! and for a stream's headers once it let them go — and a panic traps the VM, which then
//! answers 503 to every request of its worker. Here such a status is an `Err` the caller
//! handles: a failed call, a request refused (500), a log line.

use proxy_wasm::types::{BufferType, MapType, Status};

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_set_buffer_bytes(
        buffer_type: u32,
        start: usize,
        size: usize,
        buffer_data: *const u8,
        buffer_size: usize,
    ) -> u32;
}

/// The host's status when it is not `Ok`.
pub type HostStatus = u32;

fn status(s: u32) -> Result<(), HostStatus> {
    match s == Status::Ok as u32 {
        true => Ok(()),
        false => Err(s),
    }
}

/// Header `name` of `map`: `Ok(None)` when absent, `Err` when the map is not there.
pub fn get(map: MapType, name: &str) -> Result<Option<Vec<u8>>, HostStatus> {
    let mut data: *mut u8 = core::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the key is a live buffer for the call; the out-pointers are valid locals.
    let s = unsafe {
        proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), &mut data, &mut size)
    };
    owned(s, data, size)
}

/// What a host call that hands back bytes wrote: `None` for NotFound, `Err` for any status
/// but Ok.
fn owned(s: u32, data: *mut u8, size: usize) -> Result<Option<Vec<u8>>, HostStatus> {
    if s == Status::NotFound as u32 {
        return Ok(None);
    }
    status(s)?;
    if data.is_null() {
        return Ok(Some(Vec::new()));
    }
    // SAFETY: on Ok the host wrote `size` bytes into memory it allocated through this module's
    // `proxy_on_memory_allocate` (the global allocator), now ours to own and free.
    Ok(Some(unsafe { Vec::from_raw_parts(data, size, size) }))
}

/// Every header of `map` as (name, raw value) pairs: empty when the map is not there.
pub fn pairs(map: MapType) -> Result<Vec<(String, Vec<u8>)>, HostStatus> {
    let mut data: *mut u8 = core::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the out-pointers are valid locals.
    let s = unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) };
    Ok(owned(s, data, size)?.map_or_else(Vec::new, |b| decode_pairs(&b)))
}

/// proxy-wasm's map encoding: the number of pairs, each pair's key and value sizes (u32, little
/// endian), then each key and value followed by a NUL. A malformed map reads as what it holds
/// up to the fault.
fn decode_pairs(b: &[u8]) -> Vec<(String, Vec<u8>)> {
    let word = |i: usize| {
        b.get(i..i + 4)
            .and_then(|w| w.try_into().ok())
            .map(|w: [u8; 4]| u32::from_le_bytes(w) as usize)
    };
    let Some(n) = word(0) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(n.min(256));
    let mut at = 4 + n.saturating_mul(8);
    for i in 0..n {
        let (Some(k), Some(v)) = (word(4 + i * 8), word(8 + i * 8)) else {
            break;
        };
        let (Some(key), Some(value)) = (b.get(at..at + k), b.get(at + k + 1..at + k + 1 + v))
        else {
            break;
        };
        out.push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
        at += k + v + 2;
    }
    out
}

/// Up to `max` bytes of `buffer` from `start`: `None` when there is no such buffer.
pub fn buffer(buffer: BufferType, start: usize, max: usize) -> Result<Option<Vec<u8>>, HostStatus> {
    let mut data: *mut u8 = core::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the out-pointers are valid locals.
    let s = unsafe { proxy_get_buffer_bytes(buffer as u32, start, max, &mut data, &mut size) };
    owned(s, data, size)
}

/// Property `path` (Envoy's attributes: `["source", "address"]`): `None` when absent.
pub fn property(path: &[&str]) -> Result<Option<Vec<u8>>, HostStatus> {
    let mut encoded = Vec::new();
    for p in path {
        encoded.extend_from_slice(p.as_bytes());
        encoded.push(0);
    }
    let mut data: *mut u8 = core::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the path is a live buffer for the call; the out-pointers are valid locals.
    let s = unsafe { proxy_get_property(encoded.as_ptr(), encoded.len(), &mut data, &mut size) };
    owned(s, data, size)
}

/// Sets header `name` of `map` to `value` (replacing every line of it).
pub fn set(map: MapType, name: &str, value: &str) -> Result<(), HostStatus> {
    // SAFETY: key and value are live buffers for the call.
    status(unsafe {
        proxy_replace_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Adds a line `name: value` to `map`.
pub fn add(map: MapType, name: &str, value: &str) -> Result<(), HostStatus> {
    // SAFETY: key and value are live buffers for the call.
    status(unsafe {
        proxy_add_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Removes header `name` from `map`.
pub fn remove(map: MapType, name: &str) -> Result<(), HostStatus> {
    // SAFETY: the key is a live buffer for the call.
    status(unsafe { proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) })
}

/// Replaces `size` bytes from `start` of `buffer` with `data`.
pub fn set_buffer(
    buffer: BufferType,
    start: usize,
    size: usize,
    data: &[u8],
) -> Result<(), HostStatus> {
    // SAFETY: the data is a live buffer for the call.
    status(unsafe { proxy_set_buffer_bytes(buffer as u32, start, size, data.as_ptr(), data.len()) })
}
