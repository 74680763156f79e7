//! Shared data kept in memory with Envoy's compare-and-swap rules, for hosts that are not
//! Envoy's wasm shared data: the fake host of native tests, the command line's host, and
//! ([`Locked`]) the hosts whose workers are threads of one process.

use super::{Shared, SharedSetError};
use std::collections::HashMap;

/// Values by key, each with the version a compare-and-swap names.
pub type SharedMap = HashMap<String, (Vec<u8>, u32)>;

/// `key`'s value and version (both `None` when it was never set).
pub fn get(map: &SharedMap, key: &str) -> Shared {
    match map.get(key) {
        Some((v, cas)) => Shared {
            value: Some(v.clone()),
            cas: Some(*cas),
        },
        None => Shared::default(),
    }
}

/// Sets `key` only if it does not exist.
pub fn add(map: &mut SharedMap, key: &str, value: &[u8]) -> Result<(), SharedSetError> {
    if map.contains_key(key) {
        return Err(SharedSetError::CasMismatch);
    }
    set(map, key, value, None)
}

/// Sets `key`, unless `cas` names a version that is no longer the current one.
pub fn set(
    map: &mut SharedMap,
    key: &str,
    value: &[u8],
    cas: Option<u32>,
) -> Result<(), SharedSetError> {
    let current = map.get(key).map(|(_, v)| *v);
    if cas.is_some() && cas != current {
        return Err(SharedSetError::CasMismatch);
    }
    map.insert(
        key.to_string(),
        (value.to_vec(), current.map_or(1, |v| v + 1)),
    );
    Ok(())
}

/// Shared data for hosts whose workers are threads of one process (the native module, the
/// ext_authz service): one map behind a lock. A poisoned lock reads as the host failing.
#[derive(Default)]
pub struct Locked(std::sync::Mutex<SharedMap>);

impl Locked {
    /// `key`'s value and version; `None` when the lock failed.
    pub fn get(&self, key: &str) -> Option<Shared> {
        let map = self.0.lock().ok()?;
        Some(get(&map, key))
    }

    /// [`set`] under the lock.
    pub fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedSetError> {
        let mut map = self.0.lock().map_err(|_| SharedSetError::Host)?;
        set(&mut map, key, value, cas)
    }

    /// [`add`] under the lock.
    pub fn add(&self, key: &str, value: &[u8]) -> Result<(), SharedSetError> {
        let mut map = self.0.lock().map_err(|_| SharedSetError::Host)?;
        add(&mut map, key, value)
    }
}
