//! The credentials a configuration holds, made here rather than with other tools: the
//! `key_sha256` of an API key, and an htpasswd line with a bcrypt hash.

use sha2::{Digest, Sha256};
use std::io::BufRead;

/// The lower-case hex SHA-256 of `key`, as `key_sha256` wants it.
pub fn hash_key(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `user:$2y$<cost>$...` with the password read from standard input (its first line).
pub fn htpasswd(user: &str, cost: u32) -> Result<String, String> {
    if user.is_empty() || user.contains([':', '\n', '\r']) {
        return Err("USER must be non-empty and hold no `:`".into());
    }
    if !(4..=14).contains(&cost) {
        return Err("--cost must be 4 to 14 (the filter refuses more; 10 to 12 is enough)".into());
    }
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err("the password read from standard input is empty".into());
    }
    let parts = bcrypt::hash_with_result(password, cost).map_err(|e| e.to_string())?;
    Ok(format!(
        "{user}:{}",
        parts.format_for_version(bcrypt::Version::TwoY)
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_key_is_the_hex_sha256() {
        // FIPS 180-2 appendix B.1: SHA-256("abc").
        assert_eq!(
            super::hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
