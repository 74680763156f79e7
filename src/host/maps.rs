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
