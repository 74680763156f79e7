//! DPoP server nonces (RFC 9449 §8, §9), derived rather than stored: a nonce is the number of
//! the current time step and a MAC of it under the configured secret, so every Envoy of every
//! replica that holds the secret issues the same nonce in the same step and accepts the others'
//! with no shared state. A nonce of the current or the previous step is accepted: a nonce lives
//! between one and two windows, and replicas whose clocks differ by less than a window accept
//! each other's. Secrets rotate as session keys do: several may be configured, the first
//! signs, every one is accepted.

use crate::error::ConfigError;
use crate::schema::decode::raw_struct;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// What the MAC is of, beside the step: nonces are not interchangeable with other uses of the
/// secret.
const LABEL: &[u8] = b"authgate dpop nonce v1";
/// Bytes of MAC in a nonce (128 bits).
const MAC_LEN: usize = 16;
/// A nonce's length: the step (8 bytes) and the MAC, in base64url.
pub const NONCE_LEN: usize = (8 + MAC_LEN) * 4 / 3;

raw_struct! {
    /// `dpop_nonce`.
    #[derive(Debug)]
    pub struct RawDpopNonce {
        /// The environment variable that holds the secrets: base64, at least 32 bytes each,
        /// separated by spaces or commas; the first signs.
        pub secret_env: String,
        /// The length of a nonce's time step in seconds (default 60; 10 to 3600).
        pub window_seconds: Option<u64>,
    }
}

/// Shortest secret accepted (bytes).
const MIN_SECRET: usize = 32;

/// Validates `dpop_nonce` at `at`, reading its secrets from `env`.
pub fn compile(
    at: &str,
    raw: &RawDpopNonce,
    env: crate::capabilities::Env,
) -> Result<Nonces, ConfigError> {
    let at_secret = format!("{at}.secret_env");
    let secrets = crate::capabilities::secrets::key_list(
        env,
        &at_secret,
        (&raw.secret_env, "secret", MIN_SECRET),
    )?;
    let window = raw.window_seconds.unwrap_or(60);
    if !(10..=3600).contains(&window) {
        return Err(ConfigError::new(
            format!("{at}.window_seconds"),
            "must be 10 to 3600",
        ));
    }
    // key_list gives at least one secret, and the window is not 0.
    Nonces::new(&secrets, window).ok_or_else(|| ConfigError::new(at_secret, "holds no secret"))
}

/// A provider's nonce settings: its keys (the first signs) and its window.
pub struct Nonces {
    keys: Vec<Hkdf<Sha256>>,
    /// The length of a step (seconds).
    pub window: u64,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("keys", &self.keys.len())
            .field("window", &self.window)
            .finish()
    }
}

impl Nonces {
    /// Nonces under `secrets` (the first signs) in steps of `window` seconds; `None` without
    /// a secret or a window.
    pub fn new(secrets: &[Vec<u8>], window: u64) -> Option<Nonces> {
        if secrets.is_empty() || window == 0 {
            return None;
        }
        let keys = secrets
            .iter()
            .map(|s| Hkdf::<Sha256>::new(Some(LABEL), s))
            .collect();
        Some(Nonces { keys, window })
    }

    fn mac(key: &Hkdf<Sha256>, step: u64) -> [u8; MAC_LEN] {
        let mut out = [0u8; MAC_LEN];
        // HKDF-Expand of 16 bytes cannot fail (at most 255 * 32 may be asked for).
        let _ = key.expand(&step.to_be_bytes(), &mut out);
        out
    }

    fn step(&self, now: u64) -> u64 {
        now / self.window
    }

    /// The nonce of the step `now` (seconds) falls in.
    pub fn issue(&self, now: u64) -> String {
        let step = self.step(now);
        let mut raw = Vec::with_capacity(8 + MAC_LEN);
        raw.extend_from_slice(&step.to_be_bytes());
        if let Some(key) = self.keys.first() {
            raw.extend_from_slice(&Self::mac(key, step));
        }
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Which step `nonce` is of, when it is one of the current or the previous step at `now`
    /// under any key; `None` otherwise.
    pub fn check(&self, nonce: &str, now: u64) -> Option<Age> {
        if nonce.len() != NONCE_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        let (step, mac) = raw.split_first_chunk::<8>()?;
        let (step, current) = (u64::from_be_bytes(*step), self.step(now));
        let age = match step {
            s if s == current => Age::Current,
            s if s.checked_add(1) == Some(current) => Age::Previous,
            _ => return None,
        };
        // Every key is tried, whatever matched, so timing says nothing of which.
        let good = self.keys.iter().fold(false, |ok, key| {
            ok | bool::from(Self::mac(key, step).ct_eq(mac))
        });
        good.then_some(age)
    }
}

/// The step of an accepted nonce. One of the previous step lives to the end of this one only,
/// so an answer that lets it through gives the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    /// Of the current step.
    Current,
    /// Of the step before.
    Previous,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonces(secrets: &[&[u8]], window: u64) -> Nonces {
        let s: Vec<Vec<u8>> = secrets.iter().map(|s| s.to_vec()).collect();
        match Nonces::new(&s, window) {
            Some(n) => n,
            None => unreachable!("a secret and a window"),
        }
    }

    #[test]
    fn a_nonce_is_good_for_its_step_and_the_next() {
        let n = nonces(&[b"0123456789abcdef0123456789abcdef"], 60);
        let issued = n.issue(600);
        assert_eq!(issued.len(), NONCE_LEN);
        assert_eq!(n.issue(659), issued, "the same step, the same nonce");
        assert_ne!(n.issue(660), issued);
        let cases = [
            ("the same step", 600, true),
            ("the end of the same step", 659, true),
            ("the next step", 719, true),
            ("two steps on", 720, false),
            ("before it was issued", 599, false),
        ];
        for (name, now, want) in cases {
            assert_eq!(n.check(&issued, now).is_some(), want, "{name}");
        }
    }

    #[test]
    fn replicas_that_share_a_secret_accept_each_others_nonces() {
        let (a, b) = (
            nonces(&[b"shared secret, 32 bytes or more!"], 60),
            nonces(&[b"shared secret, 32 bytes or more!"], 60),
        );
        assert_eq!(a.issue(1000), b.issue(1000));
        assert_eq!(b.check(&a.issue(1000), 1010), Some(Age::Current));
        let other = nonces(&[b"another secret, 32 bytes or more"], 60);
        assert_eq!(other.check(&a.issue(1000), 1000), None, "another secret");
    }

    #[test]
    fn a_rotated_secret_still_accepts_and_the_first_signs() {
        let (old, new) = (
            &b"the old secret, 32 bytes or more."[..],
            &b"the new secret, 32 bytes or more."[..],
        );
        let before = nonces(&[old], 60);
        let after = nonces(&[new, old], 60);
        assert!(
            after.check(&before.issue(300), 300).is_some(),
            "the old key still accepted"
        );
        assert_eq!(
            after.issue(300),
            nonces(&[new], 60).issue(300),
            "the first signs"
        );
    }

    #[test]
    fn what_is_not_a_nonce_is_refused() {
        let n = nonces(&[b"0123456789abcdef0123456789abcdef"], 60);
        let good = n.issue(100);
        let mut flipped = good.clone().into_bytes();
        flipped[NONCE_LEN - 1] = if flipped[NONCE_LEN - 1] == b'A' {
            b'B'
        } else {
            b'A'
        };
        for bad in [
            "",
            "x",
            &good[1..],
            &format!("{good}A"),
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            &String::from_utf8_lossy(&flipped),
        ] {
            assert_eq!(n.check(bad, 100), None, "{bad:?}");
        }
    }

    #[test]
    fn a_nonce_of_the_previous_step_is_not_current() {
        let n = nonces(&[b"0123456789abcdef0123456789abcdef"], 60);
        let issued = n.issue(600);
        assert_eq!(n.check(&issued, 659), Some(Age::Current));
        assert_eq!(
            n.check(&issued, 660),
            Some(Age::Previous),
            "still accepted, but not current"
        );
    }
}
