//! JWS algorithms (RFC 7518 §3, RFC 8037 §3.1, RFC 8812 §3.2, RFC 9864 §2.2) and the one
//! table that says which key type each one needs. `none` is not an algorithm here at all.

/// A signature algorithm authgate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// HMAC SHA-256.
    Hs256,
    /// HMAC SHA-384.
    Hs384,
    /// HMAC SHA-512.
    Hs512,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    Rs512,
    /// RSASSA-PSS SHA-256.
    Ps256,
    /// RSASSA-PSS SHA-384.
    Ps384,
    /// RSASSA-PSS SHA-512.
    Ps512,
    /// ECDSA P-256 SHA-256.
    Es256,
    /// ECDSA P-384 SHA-384.
    Es384,
    /// ECDSA P-521 SHA-512 (verified by the host only).
    Es512,
    /// ECDSA secp256k1 SHA-256 (RFC 8812).
    Es256k,
    /// EdDSA with Ed25519 (RFC 8037), under its polymorphic name, deprecated by RFC 9864.
    EdDsa,
    /// Ed25519 under its RFC 9864 name: the same signature as [`Alg::EdDsa`] with an
    /// Ed25519 key.
    Ed25519,
}

/// The kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `kty: oct`.
    Hmac,
    /// `kty: RSA`.
    Rsa,
    /// `kty: EC`, `crv: P-256`.
    P256,
    /// `kty: EC`, `crv: P-384`.
    P384,
    /// `kty: EC`, `crv: P-521`.
    P521,
    /// `kty: EC`, `crv: secp256k1`.
    Secp256k1,
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519,
}

impl Alg {
    /// Every algorithm, for tables and tests.
    pub const ALL: [Alg; 15] = [
        Alg::Hs256,
        Alg::Hs384,
        Alg::Hs512,
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::Es512,
        Alg::Es256k,
        Alg::EdDsa,
        Alg::Ed25519,
    ];

    /// The algorithm named by a JWS `alg` value (case-sensitive, RFC 7515 §4.1.1).
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The registered `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
            Alg::Es256k => "ES256K",
            Alg::EdDsa => "EdDSA",
            Alg::Ed25519 => "Ed25519",
        }
    }

    /// The key kind this algorithm verifies with; a token is never checked with another kind.
    pub fn key_kind(self) -> KeyKind {
        match self {
            Alg::Hs256 | Alg::Hs384 | Alg::Hs512 => KeyKind::Hmac,
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                KeyKind::Rsa
            }
            Alg::Es256 => KeyKind::P256,
            Alg::Es384 => KeyKind::P384,
            Alg::Es512 => KeyKind::P521,
            Alg::Es256k => KeyKind::Secp256k1,
            Alg::EdDsa | Alg::Ed25519 => KeyKind::Ed25519,
        }
    }

    /// Whether `self` and `other` name the same signature: equal, or `EdDSA` and `Ed25519`
    /// (RFC 9864 §2.2; the key fixes the curve, and only Ed25519 keys are taken). A key that
    /// says `alg: "EdDSA"` verifies tokens signed under either name.
    pub fn same(self, other: Alg) -> bool {
        self == other || self.twin() == Some(other)
    }

    /// The other name of the same signature, for lists that must accept and advertise both.
    pub fn twin(self) -> Option<Alg> {
        match self {
            Alg::EdDsa => Some(Alg::Ed25519),
            Alg::Ed25519 => Some(Alg::EdDsa),
            _ => None,
        }
    }

    /// For HMAC, the hash output length, which is also the shortest secret accepted
    /// (RFC 7518 §3.2).
    pub fn hmac_min_key_len(self) -> Option<usize> {
        match self {
            Alg::Hs256 => Some(32),
            Alg::Hs384 => Some(48),
            Alg::Hs512 => Some(64),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_none_is_unknown() {
        for a in Alg::ALL {
            assert_eq!(Alg::from_name(a.name()), Some(a));
        }
        for bad in [
            "none", "None", "NONE", "nOnE", "hs256", "RS1", "", "es512", "ed25519", "Ed448",
        ] {
            assert_eq!(Alg::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc9864_ed25519_is_eddsa_with_an_ed25519_key() {
        assert_eq!(Alg::from_name("Ed25519"), Some(Alg::Ed25519));
        assert!(Alg::Ed25519.same(Alg::EdDsa) && Alg::EdDsa.same(Alg::Ed25519));
        assert_eq!(Alg::Ed25519.key_kind(), KeyKind::Ed25519);
        assert!(!Alg::Ed25519.same(Alg::Es256));
        assert_eq!(Alg::Es256.twin(), None);
    }
}
