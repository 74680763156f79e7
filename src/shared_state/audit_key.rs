//! One key for credential fingerprints, shared by every worker: the first worker to look
//! creates it, the others read it, so the same credential has the same fingerprint in every
//! worker's audit lines.

use crate::capabilities::Host;
use crate::engine::Engine;

const KEY: &str = "authgate.audit_key";

/// Makes `engine` use the shared fingerprint key, creating it when no worker has yet.
pub fn sync(host: &dyn Host, engine: &Engine) {
    if let Some(current) = host.shared_get(KEY) {
        if current.value.is_none() {
            // Written only if still absent where the host can (the native module); Envoy's
            // wasm shared data cannot, so two first writers may race and the later one stands.
            // Every worker re-reads on each tick, so all converge on it.
            let _ = host.shared_add(KEY, &host.random_key());
        }
    }
    if let Some(value) = host.shared_get(KEY).and_then(|s| s.value) {
        if let Ok(k) = <[u8; 32]>::try_from(value.as_slice()) {
            engine.set_audit_key(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fake::FakeHost;

    #[test]
    fn workers_converge_on_one_key() {
        let json = br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "s"}]}}}"#;
        let a_host = FakeHost::default();
        let b_host = FakeHost::with_store(a_host.store.clone());
        let (a, b) = (
            Engine::from_json(json, [1; 32]).unwrap(),
            Engine::from_json(json, [2; 32]).unwrap(),
        );
        sync(&a_host, &a);
        sync(&b_host, &b);
        assert_eq!(a.fingerprint("x"), b.fingerprint("x"));
        // A racing first write elsewhere: the next sync (the tick) adopts it.
        FakeHost::write_as_other(&a_host.store, KEY, &[7; 32]);
        sync(&a_host, &a);
        sync(&b_host, &b);
        assert_eq!(a.fingerprint("x"), b.fingerprint("x"));
    }
}
