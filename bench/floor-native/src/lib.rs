//! A dynamic module (Envoy 1.40, ABI v0.2.0) that reads `x-api-key` and goes on: the least an
//! auth filter does. Every hook the ABI requires is here; all but the request headers' do
//! nothing.

#![allow(clippy::missing_safety_doc)]

use std::os::raw::{c_char, c_void};

#[repr(C)]
pub struct Buffer {
    ptr: *const u8,
    len: usize,
}

extern "C" {
    fn envoy_dynamic_module_callback_http_get_header(
        filter: *mut c_void,
        header_type: u32,
        key: Buffer,
        result: *mut Buffer,
        index: usize,
        total: *mut usize,
    ) -> bool;
}

static CONFIG: u8 = 0;

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    b"v0.2.0\0".as_ptr() as *const c_char
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    _c: *mut c_void,
    _name: Buffer,
    _config: Buffer,
) -> *const c_void {
    &CONFIG as *const u8 as *const c_void
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(_c: *const c_void) {}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    _c: *const c_void,
    _f: *mut c_void,
) -> *const c_void {
    &CONFIG as *const u8 as *const c_void
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter: *mut c_void,
    _m: *const c_void,
    _end: bool,
) -> u32 {
    let key = b"x-api-key";
    let mut out = Buffer { ptr: std::ptr::null(), len: 0 };
    // SAFETY: Envoy's filter pointer during its hook; our key buffer.
    let found = unsafe {
        envoy_dynamic_module_callback_http_get_header(
            filter,
            0,
            Buffer { ptr: key.as_ptr(), len: key.len() },
            &mut out,
            0,
            std::ptr::null_mut(),
        )
    };
    std::hint::black_box((found, out.len));
    0
}

macro_rules! body_or_trailers {
    ($($name:ident($($arg:ty),*)),*) => {$(
        #[no_mangle]
        pub extern "C" fn $name(_f: *mut c_void, _m: *const c_void $(, _: $arg)*) -> u32 { 0 }
    )*};
}
body_or_trailers!(
    envoy_dynamic_module_on_http_filter_request_body(bool),
    envoy_dynamic_module_on_http_filter_request_trailers(),
    envoy_dynamic_module_on_http_filter_response_headers(bool),
    envoy_dynamic_module_on_http_filter_response_body(bool),
    envoy_dynamic_module_on_http_filter_response_trailers()
);

macro_rules! nothing {
    ($($name:ident($($arg:ty),*)),*) => {$(
        #[no_mangle]
        pub extern "C" fn $name(_f: *mut c_void, _m: *const c_void $(, _: $arg)*) {}
    )*};
}
nothing!(
    envoy_dynamic_module_on_http_filter_stream_complete(),
    envoy_dynamic_module_on_http_filter_http_callout_done(u64, u32, *const c_void, usize, *const c_void, usize),
    envoy_dynamic_module_on_http_filter_scheduled(u64),
    envoy_dynamic_module_on_http_filter_http_stream_headers(u64, *const c_void, usize, bool),
    envoy_dynamic_module_on_http_filter_http_stream_data(u64, *const c_void, usize, bool),
    envoy_dynamic_module_on_http_filter_http_stream_trailers(u64, *const c_void, usize),
    envoy_dynamic_module_on_http_filter_http_stream_complete(u64),
    envoy_dynamic_module_on_http_filter_http_stream_reset(u64, u32),
    envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(),
    envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark()
);

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(_m: *const c_void) {}
