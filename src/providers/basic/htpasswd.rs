//! Parses htpasswd text into users and password hashes. Only hashes are accepted: bcrypt
//! (`$2y$`, `$2b$`, `$2a$`) and `{SHA}` (base64 SHA-1, as Envoy's basic_auth); anything else,
//! plain text included, is refused with the line number (never the line itself).

use crate::error::ConfigError;
use base64::Engine as _;

/// Highest bcrypt cost accepted: each step doubles the time of a cache miss on Envoy's worker
/// thread, and cost 14 already takes about a second there.
pub const MAX_BCRYPT_COST: u32 = 14;

/// A stored password hash.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordHash {
    /// A full bcrypt hash string, `$2y$NN$` + 53 characters.
    Bcrypt(String),
    /// The SHA-1 digest of the password.
    Sha1([u8; 20]),
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hashes are secrets too: keep them out of debug output.
        match self {
            PasswordHash::Bcrypt(_) => f.write_str("Bcrypt(..)"),
            PasswordHash::Sha1(_) => f.write_str("Sha1(..)"),
        }
    }
}

/// Parses `user:hash` lines; blank lines and `#` comments are skipped, CR before LF is ignored.
pub fn parse(field: &str, text: &str) -> Result<Vec<(String, PasswordHash)>, ConfigError> {
    let mut users: Vec<(String, PasswordHash)> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let at = |reason: String| ConfigError::new(field, format!("line {}: {reason}", i + 1));
        let Some((user, hash)) = line.split_once(':') else {
            return Err(at("expected `user:hash`".into()));
        };
        if user.is_empty() || user.chars().any(|c| c.is_control()) {
            return Err(at("user name is empty or has control characters".into()));
        }
        if users.iter().any(|(u, _)| u == user) {
            return Err(at(format!("user `{user}` appears twice")));
        }
        let hash = parse_hash(hash).map_err(|why| at(format!("user `{user}`: {why}")))?;
        users.push((user.to_string(), hash));
    }
    if users.is_empty() {
        return Err(ConfigError::new(field, "holds no users"));
    }
    Ok(users)
}

fn parse_hash(hash: &str) -> Result<PasswordHash, String> {
    if let Some(b64) = hash.strip_prefix("{SHA}") {
        let digest = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|d| <[u8; 20]>::try_from(d).ok())
            .ok_or("{SHA} hash is not base64 of a 20-byte SHA-1 digest")?;
        return Ok(PasswordHash::Sha1(digest));
    }
    if hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$") {
        let cost: u32 = hash
            .get(4..6)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse().ok())
            .ok_or("bcrypt hash has no two-digit cost")?;
        let body = hash.get(7..).unwrap_or("");
        let well_formed = hash.as_bytes().get(6) == Some(&b'$')
            && body.len() == 53
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
        if !well_formed {
            return Err("bcrypt hash is malformed (want $2y$NN$ and 53 characters)".into());
        }
        if !(4..=MAX_BCRYPT_COST).contains(&cost) {
            return Err(format!("bcrypt cost must be 4 to {MAX_BCRYPT_COST}"));
        }
        return Ok(PasswordHash::Bcrypt(hash.to_string()));
    }
    if hash.starts_with("$apr1$") || hash.starts_with("$1$") {
        return Err("MD5-crypt hashes are too weak and not accepted; use bcrypt".into());
    }
    Err("password is not a bcrypt ($2y$, $2b$, $2a$) or {SHA} hash; plain text is refused".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    // `htpasswd -nbB -C 4 alice secret` and `htpasswd -nbs bob secret`.
    pub const ALICE: &str = "alice:$2y$04$8TA3sJd/j/Ip41SKWn5JLewU5TrFEw6KPSpvQfnR9wc9r6wIcqQsm";
    pub const BOB: &str = "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=";

    #[test]
    fn accepts_bcrypt_and_sha() {
        let users = parse("f", &format!("# team\n{ALICE}\r\n\n{BOB}\n")).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].0, "alice");
        assert!(matches!(users[0].1, PasswordHash::Bcrypt(_)));
        assert!(matches!(users[1].1, PasswordHash::Sha1(_)));
    }

    #[test]
    fn refuses_table() {
        let cases = [
            ("plain text", "alice:secret", "plain text is refused"),
            ("apr1", "alice:$apr1$abc$def", "MD5-crypt"),
            ("no colon", "alice", "expected `user:hash`"),
            (
                "empty user",
                ":{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
                "user name is empty",
            ),
            ("short sha", "bob:{SHA}abcd", "20-byte"),
            ("bad bcrypt", "alice:$2y$04$short", "malformed"),
            (
                "cost too high",
                "alice:$2y$15$Ahqm9NjRDKGUaqG9JB.qkOyXXeQUa8HmOBZSJVaPrgt5H1mSrZu0K",
                "cost",
            ),
            ("empty", "\n# nothing\n", "holds no users"),
        ];
        for (name, text, want) in cases {
            let err = parse("providers.p.htpasswd", text).unwrap_err();
            assert!(err.reason.contains(want), "{name}: {err}");
            assert!(
                !err.to_string().contains("secret"),
                "{name}: echoes the password"
            );
        }
    }

    #[test]
    fn refuses_duplicate_user_with_line_number() {
        let err = parse("f", &format!("{BOB}\n{BOB}")).unwrap_err();
        assert_eq!(err.reason, "line 2: user `bob` appears twice");
    }
}
