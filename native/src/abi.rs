//! Hand-written bindings to the part of Envoy's dynamic-module C ABI (v0.2.0, Envoy 1.40:
//! `source/extensions/dynamic_modules/abi/abi.h`) that the native adapter uses; nothing else.
//!
//! Conventions of the ABI:
//! * "envoy_ptr"  = object owned by Envoy (DynamicModuleHttpFilter*, ...Config*)
//! * "module_ptr" = object owned by the module (our Box<...> raw pointers)
//! * C enums are passed as 32-bit ints (x86_64/aarch64 SysV), modelled as u32.
//! * All strings are (ptr, len) pairs, never NUL terminated (except the ABI
//!   version returned from on_program_init).
//!
//! Callbacks (envoy_dynamic_module_callback_*) are exported by the Envoy
//! executable itself (`nm -D envoy | grep callback`); the cdylib leaves them
//! undefined and the dynamic linker resolves them at dlopen time (RTLD_LAZY).

#![allow(dead_code)]

use std::os::raw::{c_char, c_void};

/// envoy_dynamic_module_type_envoy_buffer: memory owned by Envoy.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyBuffer {
    pub ptr: *const u8,
    pub len: usize,
}

impl EnvoyBuffer {
    pub const NULL: EnvoyBuffer = EnvoyBuffer {
        ptr: std::ptr::null(),
        len: 0,
    };
    /// The bytes Envoy lent, borrowed no longer than this buffer value (a caller cannot pick a
    /// longer lifetime).
    ///
    /// # Safety
    /// Only during the event hook that lent them: Envoy owns the memory.
    pub unsafe fn as_bytes(&self) -> &[u8] {
        if self.ptr.is_null() || self.len == 0 {
            &[]
        } else {
            // SAFETY: Envoy lent `len` bytes at `ptr` for the current hook (the caller's
            // promise), and the slice lives no longer than `self`.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// envoy_dynamic_module_type_module_buffer: memory owned by the module.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModuleBuffer {
    pub ptr: *const u8,
    pub len: usize,
}

impl ModuleBuffer {
    pub const NULL: ModuleBuffer = ModuleBuffer {
        ptr: std::ptr::null(),
        len: 0,
    };
    pub fn from(b: &[u8]) -> ModuleBuffer {
        ModuleBuffer {
            ptr: b.as_ptr(),
            len: b.len(),
        }
    }
}

/// envoy_dynamic_module_type_module_http_header (module owned key/value).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModuleHttpHeader {
    pub key_ptr: *const u8,
    pub key_len: usize,
    pub value_ptr: *const u8,
    pub value_len: usize,
}

impl ModuleHttpHeader {
    pub fn new(k: &[u8], v: &[u8]) -> Self {
        ModuleHttpHeader {
            key_ptr: k.as_ptr(),
            key_len: k.len(),
            value_ptr: v.as_ptr(),
            value_len: v.len(),
        }
    }
}

/// envoy_dynamic_module_type_envoy_http_header (Envoy owned key/value).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyHttpHeader {
    pub key_ptr: *const u8,
    pub key_len: usize,
    pub value_ptr: *const u8,
    pub value_len: usize,
}

// envoy_dynamic_module_type_http_header_type
pub const HDR_REQUEST: u32 = 0;
pub const HDR_REQUEST_TRAILER: u32 = 1;
pub const HDR_RESPONSE: u32 = 2;
pub const HDR_RESPONSE_TRAILER: u32 = 3;

// envoy_dynamic_module_type_http_body_type
pub const BODY_RECEIVED_REQUEST: u32 = 0;
pub const BODY_BUFFERED_REQUEST: u32 = 1;
pub const BODY_RECEIVED_RESPONSE: u32 = 2;
pub const BODY_BUFFERED_RESPONSE: u32 = 3;

// envoy_dynamic_module_type_log_level
pub const LOG_TRACE: u32 = 0;
pub const LOG_DEBUG: u32 = 1;
pub const LOG_INFO: u32 = 2;
pub const LOG_WARN: u32 = 3;
pub const LOG_ERROR: u32 = 4;
pub const LOG_CRITICAL: u32 = 5;

// envoy_dynamic_module_type_on_http_filter_request_headers_status (== FilterHeadersStatus)
pub const HEADERS_CONTINUE: u32 = 0;
pub const HEADERS_STOP_ITERATION: u32 = 1;
pub const HEADERS_CONTINUE_AND_DONT_END_STREAM: u32 = 2;
pub const HEADERS_STOP_ALL_ITERATION_AND_BUFFER: u32 = 3;
pub const HEADERS_STOP_ALL_ITERATION_AND_WATERMARK: u32 = 4;

// envoy_dynamic_module_type_on_http_filter_{request,response}_body_status (== FilterDataStatus)
pub const BODY_CONTINUE: u32 = 0;
pub const BODY_STOP_ITERATION_AND_BUFFER: u32 = 1;
pub const BODY_STOP_ITERATION_AND_WATERMARK: u32 = 2;
pub const BODY_STOP_ITERATION_NO_BUFFER: u32 = 3;

// ..._trailers_status (== FilterTrailersStatus)
pub const TRAILERS_CONTINUE: u32 = 0;
pub const TRAILERS_STOP_ITERATION: u32 = 1;

// envoy_dynamic_module_type_on_http_filter_local_reply_status
pub const LOCAL_REPLY_CONTINUE: u32 = 0;
pub const LOCAL_REPLY_CONTINUE_AND_RESET: u32 = 1;

// envoy_dynamic_module_type_http_callout_init_result
pub const CALLOUT_INIT_SUCCESS: u32 = 0;
pub const CALLOUT_INIT_MISSING_REQUIRED_HEADERS: u32 = 1;
pub const CALLOUT_INIT_CLUSTER_NOT_FOUND: u32 = 2;
pub const CALLOUT_INIT_DUPLICATE_CALLOUT_ID: u32 = 3;
pub const CALLOUT_INIT_CANNOT_CREATE_REQUEST: u32 = 4;

// envoy_dynamic_module_type_http_callout_result
pub const CALLOUT_SUCCESS: u32 = 0;
pub const CALLOUT_RESET: u32 = 1;
pub const CALLOUT_EXCEED_RESPONSE_BUFFER_LIMIT: u32 = 2;

// envoy_dynamic_module_type_metrics_result
pub const METRICS_SUCCESS: u32 = 0;

// envoy_dynamic_module_type_attribute_id (subset; index = position in the enum)
pub const ATTR_REQUEST_PATH: u32 = 0;
pub const ATTR_REQUEST_ID: u32 = 9;
pub const ATTR_SOURCE_ADDRESS: u32 = 24;
pub const ATTR_SOURCE_PORT: u32 = 25;
pub const ATTR_CONNECTION_MTLS: u32 = 29;
pub const ATTR_CONNECTION_TLS_VERSION: u32 = 31;
pub const ATTR_CONNECTION_SHA256_PEER_CERT_DIGEST: u32 = 38;

pub type EnvoyPtr = *mut c_void; // *_envoy_ptr (void*)
pub type ModulePtr = *const c_void; // *_module_ptr (const void*)

extern "C" {
    // ---- common ----
    pub fn envoy_dynamic_module_callback_log(level: u32, message: ModuleBuffer);
    pub fn envoy_dynamic_module_callback_log_enabled(level: u32) -> bool;
    pub fn envoy_dynamic_module_callback_get_concurrency() -> u32;

    // ---- headers ----
    pub fn envoy_dynamic_module_callback_http_get_header(
        filter: EnvoyPtr,
        header_type: u32,
        key: ModuleBuffer,
        result: *mut EnvoyBuffer,
        index: usize,
        optional_size: *mut usize,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_get_headers_size(
        filter: EnvoyPtr,
        header_type: u32,
    ) -> usize;
    pub fn envoy_dynamic_module_callback_http_get_headers(
        filter: EnvoyPtr,
        header_type: u32,
        result_headers: *mut EnvoyHttpHeader,
    ) -> bool;
    /// value.ptr == NULL removes the header.
    pub fn envoy_dynamic_module_callback_http_set_header(
        filter: EnvoyPtr,
        header_type: u32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_add_header(
        filter: EnvoyPtr,
        header_type: u32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;

    // ---- local reply ----
    pub fn envoy_dynamic_module_callback_http_send_response(
        filter: EnvoyPtr,
        status_code: u32,
        headers: *mut ModuleHttpHeader,
        headers_len: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );

    // ---- body ----
    pub fn envoy_dynamic_module_callback_http_get_body_size(
        filter: EnvoyPtr,
        body_type: u32,
    ) -> usize;
    pub fn envoy_dynamic_module_callback_http_get_body_chunks_size(
        filter: EnvoyPtr,
        body_type: u32,
    ) -> usize;
    pub fn envoy_dynamic_module_callback_http_get_body_chunks(
        filter: EnvoyPtr,
        body_type: u32,
        result: *mut EnvoyBuffer,
    ) -> bool;

    pub fn envoy_dynamic_module_callback_http_received_buffered_request_body(
        filter: EnvoyPtr,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_received_buffered_response_body(
        filter: EnvoyPtr,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_drain_body(
        filter: EnvoyPtr,
        body_type: u32,
        number_of_bytes: usize,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_append_body(
        filter: EnvoyPtr,
        body_type: u32,
        data: ModuleBuffer,
    ) -> bool;

    // ---- flow control ----
    pub fn envoy_dynamic_module_callback_http_filter_continue_decoding(filter: EnvoyPtr);
    pub fn envoy_dynamic_module_callback_http_filter_continue_encoding(filter: EnvoyPtr);

    // ---- callout ----
    pub fn envoy_dynamic_module_callback_http_filter_http_callout(
        filter: EnvoyPtr,
        callout_id_out: *mut u64,
        cluster_name: ModuleBuffer,
        headers: *mut ModuleHttpHeader,
        headers_len: usize,
        body: ModuleBuffer,
        timeout_ms: u64,
    ) -> u32;

    // ---- the configuration's own calls and scheduler (main thread) ----
    pub fn envoy_dynamic_module_callback_http_filter_config_http_callout(
        config: EnvoyPtr,
        callout_id_out: *mut u64,
        cluster_name: ModuleBuffer,
        headers: *mut ModuleHttpHeader,
        headers_len: usize,
        body: ModuleBuffer,
        timeout_ms: u64,
    ) -> u32;
    pub fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(
        config: EnvoyPtr,
    ) -> *mut c_void;
    /// Thread-safe: posts `on_http_filter_config_scheduled` to the main thread.
    pub fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
        sched: *mut c_void,
        event_id: u64,
    );
    pub fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(sched: *mut c_void);

    // ---- scheduler (per filter / stream, runs on the stream's worker) ----
    pub fn envoy_dynamic_module_callback_http_filter_scheduler_new(filter: EnvoyPtr)
        -> *mut c_void;
    pub fn envoy_dynamic_module_callback_http_filter_scheduler_commit(
        sched: *mut c_void,
        event_id: u64,
    );
    pub fn envoy_dynamic_module_callback_http_filter_scheduler_delete(sched: *mut c_void);

    // ---- metrics ----
    pub fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: EnvoyPtr,
        name: ModuleBuffer,
        label_names: *mut ModuleBuffer,
        label_names_len: usize,
        counter_id_out: *mut usize,
    ) -> u32;
    pub fn envoy_dynamic_module_callback_http_filter_increment_counter(
        filter: EnvoyPtr,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_len: usize,
        value: u64,
    ) -> u32;

    // ---- attributes / filter state ----
    pub fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
        filter: EnvoyPtr,
        attribute_id: u32,
        result: *mut EnvoyBuffer,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_filter_get_attribute_int(
        filter: EnvoyPtr,
        attribute_id: u32,
        result: *mut u64,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_filter_get_attribute_bool(
        filter: EnvoyPtr,
        attribute_id: u32,
        result: *mut bool,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_set_filter_state_bytes(
        filter: EnvoyPtr,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_get_filter_state_bytes(
        filter: EnvoyPtr,
        key: ModuleBuffer,
        result: *mut EnvoyBuffer,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_filter_get_worker_index(filter: EnvoyPtr) -> u32;
}

/// NUL-terminated ABI version string returned from on_program_init.
/// Must equal ENVOY_DYNAMIC_MODULES_ABI_VERSION of the Envoy build, else Envoy
/// only logs a warning (it still loads the module).
pub const ABI_VERSION: &[u8] = b"v0.2.0\0";

pub fn abi_version_ptr() -> *const c_char {
    ABI_VERSION.as_ptr() as *const c_char
}
