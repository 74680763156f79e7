//! DPoP proofs already used (RFC 9449 §11.1), shared by every worker: a proof's `jti` (with
//! its key) is recorded until the proof would be too old anyway, and a second use within that
//! window is refused. A keyed hash of the id picks one of a fixed number of slots; each slot
//! holds a few entries, so memory stays bounded whatever clients send. When a slot is full the
//! entry nearest its end is dropped (counted): with 16384 slots of 8 entries, that needs over
//! 130,000 proofs inside one window.

use crate::binding::dpop::ProofUse;
use crate::capabilities::Host;
use crate::engine::Engine;
use std::cell::Cell;

/// Slots in shared data.
pub const SLOTS: u32 = 16384;
/// Entries per slot.
pub const PER_SLOT: usize = 8;

/// What recording a proof found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First use: recorded. `true` when an older entry had to make room.
    New(bool),
    /// Seen before, inside its window.
    Replayed,
    /// Shared data could not be read or written: the proof cannot be shown to be fresh.
    Failed,
}

/// `hash:until` entries, comma-separated.
fn entries(value: Option<&[u8]>) -> Vec<(String, u64)> {
    let text = value
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("");
    text.split(',')
        .filter_map(|e| {
            let (h, u) = e.split_once(':')?;
            Some((h.to_string(), u.parse().ok()?))
        })
        .collect()
}

/// A slot's entries after admitting `id` (valid until `until`) at `now`: expired entries go;
/// `id` is added unless present (replayed); a full slot loses the entry nearest its end
/// (evicted).
fn admit(
    list: Vec<(String, u64)>,
    id: &str,
    until: u64,
    now: u64,
) -> (Vec<(String, u64)>, bool, bool) {
    let mut list: Vec<(String, u64)> = list.into_iter().filter(|(_, u)| *u >= now).collect();
    if list.iter().any(|(h, _)| h == id) {
        return (list, true, false);
    }
    list.push((id.to_string(), until));
    let mut evicted = false;
    if list.len() > PER_SLOT {
        if let Some(i) = (0..list.len()).min_by_key(|&i| list[i].1) {
            list.remove(i);
            evicted = true;
        }
    }
    (list, false, evicted)
}

/// The decision once the replay cache has seen its DPoP proof: a pass whose proof was used
/// before (or cannot be recorded: fail closed) becomes a refusal.
pub fn enforce(
    host: &dyn Host,
    engine: &Engine,
    view: &dyn crate::request::RequestView,
    decision: crate::engine::Decision,
    now: u64,
) -> crate::engine::Decision {
    let crate::engine::Decision::Allow(allowed) = &decision else {
        return decision;
    };
    let Some(proof) = &allowed.proof else {
        return decision;
    };
    let why = match record(host, engine, proof, now) {
        Recorded::New(_) => return decision,
        Recorded::Replayed => "the proof was used before",
        Recorded::Failed => "the proof could not be checked for reuse",
    };
    engine.replayed(view, allowed.provider.as_deref(), why)
}

/// Marks that every slot exists (its value: the number of slots created).
const PREPARED: &str = "authgate.dpop.slots";

fn slot_key(slot: u32) -> String {
    format!("authgate.dpop.seen.{slot}")
}

/// Creates every slot empty, where the host cannot create a record only if it is absent
/// (Envoy's wasm shared data): two workers that both found a slot missing would both write
/// it and both accept one proof. Once the slots exist every write is a compare-and-swap.
/// Runs when a configuration with DPoP is applied, which is before the worker (or Envoy's
/// base VM, which configures first) serves a request; a worker that configures while
/// another is already serving finds the slots made and writes nothing. Costs ~2 MB of
/// shared data per Envoy process, once.
pub fn prepare(host: &dyn Host) {
    if host.adds_atomically() || host.shared_get(PREPARED).is_some_and(|s| s.value.is_some()) {
        return;
    }
    let mut made = 0;
    for slot in 0..SLOTS {
        let key = slot_key(slot);
        match host.shared_get(&key) {
            Some(s) if s.value.is_some() => made += 1,
            Some(_) if host.shared_set(&key, b"", None).is_ok() => made += 1,
            _ => {}
        }
    }
    // Only a complete set is marked: a slot that could not be made is tried again at the
    // next configuration, and meanwhile its proofs are still recorded (at the old risk).
    if made == SLOTS {
        let _ = host.shared_set(PREPARED, SLOTS.to_string().as_bytes(), None);
    }
}

/// Records `proof` at `now` (seconds), unless it was used before.
pub fn record(host: &dyn Host, engine: &Engine, proof: &ProofUse, now: u64) -> Recorded {
    let hash = engine.shared_hash("dpop-jti", &proof.id);
    let slot = u32::from_le_bytes([hash[0], hash[1], hash[2], hash[3]]) % SLOTS;
    let id: String = hash[4..16].iter().map(|b| format!("{b:02x}")).collect();
    let key = slot_key(slot);
    let (replayed, evicted) = (Cell::new(false), Cell::new(false));
    let written = super::update(host, &key, 8, |current| {
        let (list, r, e) = admit(entries(current), &id, proof.until, now);
        replayed.set(r);
        evicted.set(e);
        let text: Vec<String> = list.iter().map(|(h, u)| format!("{h}:{u}")).collect();
        text.join(",").into_bytes()
    });
    match (written, replayed.get()) {
        (_, true) => Recorded::Replayed,
        (true, false) => Recorded::New(evicted.get()),
        (false, false) => Recorded::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fake::FakeHost;

    fn engine() -> Engine {
        Engine::from_json(
            br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "c", "key": "k"}]}}}"#,
            [1; 32],
        )
        .unwrap()
    }

    fn proof(jti: &str, until: u64) -> ProofUse {
        ProofUse {
            id: format!("thumb.{jti}"),
            until,
            renew: None,
        }
    }

    #[test]
    fn a_proof_is_accepted_once_per_window_on_every_worker() {
        let (a, e) = (FakeHost::default(), engine());
        let b = FakeHost::with_store(a.store.clone());
        assert_eq!(record(&a, &e, &proof("j1", 160), 100), Recorded::New(false));
        assert_eq!(record(&b, &e, &proof("j1", 160), 101), Recorded::Replayed);
        assert_eq!(record(&b, &e, &proof("j2", 160), 101), Recorded::New(false));
        // Past its window the record is gone (the proof itself is refused as too old).
        assert_eq!(record(&a, &e, &proof("j1", 170), 161), Recorded::New(false));
    }

    #[test]
    fn a_racing_worker_is_not_lost() {
        let (a, e) = (FakeHost::default(), engine());
        record(&a, &e, &proof("j1", 160), 100);
        let hash = e.shared_hash("dpop-jti", "thumb.j2");
        let slot = u32::from_le_bytes([hash[0], hash[1], hash[2], hash[3]]) % SLOTS;
        // Another worker records j2 between this worker's read and write of the same slot.
        let key = format!("authgate.dpop.seen.{slot}");
        let id: String = hash[4..16].iter().map(|b| format!("{b:02x}")).collect();
        let other = format!("{id}:160");
        FakeHost::write_as_other(&a.store, &key, b"");
        *a.before_next_cas.borrow_mut() = Some(Box::new(move |store| {
            FakeHost::write_as_other(store, &key, other.as_bytes());
        }));
        assert_eq!(record(&a, &e, &proof("j2", 160), 100), Recorded::Replayed);
    }

    /// The slot did not exist when both workers read it: the one that creates it second
    /// finds the first one's record, not a blank it may overwrite (the native module's race,
    /// seen in a clean-clone run of test_dpop.py).
    #[test]
    fn two_workers_that_both_find_the_slot_missing_do_not_both_pass() {
        let (a, e) = (FakeHost::default(), engine());
        let hash = e.shared_hash("dpop-jti", "thumb.j3");
        let slot = u32::from_le_bytes([hash[0], hash[1], hash[2], hash[3]]) % SLOTS;
        let key = format!("authgate.dpop.seen.{slot}");
        let id: String = hash[4..16].iter().map(|b| format!("{b:02x}")).collect();
        let first = format!("{id}:160");
        *a.before_next_cas.borrow_mut() = Some(Box::new(move |store| {
            FakeHost::write_as_other(store, &key, first.as_bytes());
        }));
        assert_eq!(record(&a, &e, &proof("j3", 160), 100), Recorded::Replayed);
    }

    /// Envoy's wasm shared data has no create-if-absent: with a slot nobody wrote yet, two
    /// workers that use one proof at the same instant both found it missing and both wrote
    /// it (seen once in six clean-clone runs of test_dpop.py's replay test, wasm pass). Made
    /// slots turn the second write into a lost compare-and-swap.
    #[test]
    fn a_proof_used_on_two_workers_at_once_passes_once_where_adds_are_plain_writes() {
        let race = |prepared: bool| {
            let (a, e) = (FakeHost::default(), engine());
            a.blind_add.set(true);
            if prepared {
                prepare(&a);
            }
            let b = FakeHost::with_store(a.store.clone());
            b.blind_add.set(true);
            let other = std::rc::Rc::new(std::cell::RefCell::new(None));
            let (seen, e2) = (other.clone(), engine());
            // Worker b records the same proof between a's read of the slot and a's write.
            *a.before_next_cas.borrow_mut() = Some(Box::new(move |_| {
                *seen.borrow_mut() = Some(record(&b, &e2, &proof("j4", 160), 100));
            }));
            let mine = record(&a, &e, &proof("j4", 160), 100);
            let theirs = other.borrow_mut().take();
            (mine, theirs)
        };
        assert_eq!(
            race(false),
            (Recorded::New(false), Some(Recorded::New(false))),
            "without made slots the race lets the proof through twice (the bug this guards)"
        );
        assert_eq!(race(true), (Recorded::Replayed, Some(Recorded::New(false))));
    }

    #[test]
    fn slots_are_made_once_and_only_where_adds_are_plain_writes() {
        let atomic = FakeHost::default();
        prepare(&atomic);
        assert!(
            atomic.store.borrow().is_empty(),
            "the native module adds atomically"
        );
        let wasm = FakeHost::default();
        wasm.blind_add.set(true);
        prepare(&wasm);
        assert_eq!(wasm.store.borrow().len(), SLOTS as usize + 1);
        // A worker configuring later keeps what is already recorded.
        FakeHost::write_as_other(&wasm.store, &slot_key(7), b"abc:160");
        let later = FakeHost::with_store(wasm.store.clone());
        later.blind_add.set(true);
        prepare(&later);
        assert_eq!(wasm.store.borrow()[&slot_key(7)].0, b"abc:160");
    }

    #[test]
    fn a_full_slot_drops_the_entry_nearest_its_end() {
        let value: Vec<String> = (0..PER_SLOT)
            .map(|i| format!("{i:024x}:{}", 200 + i))
            .collect();
        let list = entries(Some(value.join(",").as_bytes()));
        assert_eq!(list.len(), PER_SLOT);
        let (after, replayed, evicted) = admit(list.clone(), "new", 300, 100);
        assert!(!replayed && evicted);
        assert_eq!(after.len(), PER_SLOT);
        assert!(!after.iter().any(|(_, u)| *u == 200) && after.contains(&("new".into(), 300)));
        let (_, replayed, _) = admit(list.clone(), &format!("{:024x}", 3), 300, 100);
        assert!(replayed);
        let (after, _, evicted) = admit(list, "new", 300, 205);
        assert!(!evicted, "expired entries made room");
        assert_eq!(after.len(), 4, "three unexpired and the new one");
    }
}
