//! The `api_key` provider: finds a key in a header, query parameter or cookie and matches it
//! against the configured keys by SHA-256 in constant time. Only digests are kept in memory.

mod config;

pub use config::{RawApiKey, RawApiKeyCredential, RawKeySource};

use super::locate::{self, Place};
use super::{Accepted, Found, HeaderEdits, Provider, Rejection, Setup};
use crate::authorization::Authorization;
use crate::error::{ConfigError, Denial};
use crate::reply::{Challenge, Scheme};
use crate::request::Request;
use crate::schema::fields;
use crate::schema::section;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// Longest key looked at; longer ones are refused unhashed.
pub const MAX_KEY_LEN: usize = 1024;

/// Where a key may be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A request header (lower-case name).
    Header(String),
    /// A query parameter.
    Query(String),
    /// A cookie.
    Cookie(String),
}

/// A compiled `api_key` provider. Its `Debug` leaves the key digests out.
pub struct ApiKeyProvider {
    digests: Vec<[u8; 32]>,
    clients: Vec<String>,
    /// Where keys are read, in order; the first is the one the challenge advertises.
    pub sources: Vec<KeySource>,
    /// Header set to the client name upstream.
    pub forward_client_header: Option<String>,
    /// Remove the key from the request before it goes upstream.
    pub hide_credentials: bool,
}

impl std::fmt::Debug for ApiKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyProvider")
            .field("keys", &self.digests.len())
            .field("clients", &self.clients)
            .field("sources", &self.sources)
            .field("forward_client_header", &self.forward_client_header)
            .field("hide_credentials", &self.hide_credentials)
            .finish()
    }
}

impl ApiKeyProvider {
    /// Validates a raw `api_key` provider named `name`.
    pub fn compile(name: &str, raw: &RawApiKey) -> Result<Self, ConfigError> {
        let field = format!("providers.{name}");
        if raw.credentials.is_empty() {
            return Err(ConfigError::new(
                format!("{field}.credentials"),
                "must not be empty",
            ));
        }
        let mut digests: Vec<[u8; 32]> = Vec::new();
        let mut clients = Vec::new();
        for (i, c) in raw.credentials.iter().enumerate() {
            let at = format!("{field}.credentials[{i}]");
            if c.client.is_empty() || !fields::is_plain_value(&c.client) {
                return Err(ConfigError::new(
                    format!("{at}.client"),
                    "must be non-empty visible ASCII without quotes or backslashes",
                ));
            }
            let digest = match (&c.key, &c.key_sha256) {
                (Some(key), None) => {
                    if key.is_empty() || key.len() > MAX_KEY_LEN {
                        return Err(ConfigError::new(
                            format!("{at}.key"),
                            format!("must be 1 to {MAX_KEY_LEN} bytes"),
                        ));
                    }
                    Sha256::digest(key.as_bytes()).into()
                }
                (None, Some(hex)) => parse_sha256_hex(hex).ok_or_else(|| {
                    ConfigError::new(
                        format!("{at}.key_sha256"),
                        "must be 64 hex digits (a SHA-256 digest)",
                    )
                })?,
                _ => {
                    return Err(ConfigError::new(
                        at,
                        "needs exactly one of `key` and `key_sha256`",
                    ))
                }
            };
            if digests.contains(&digest) {
                return Err(ConfigError::new(at, "the same key is configured twice"));
            }
            digests.push(digest);
            clients.push(c.client.clone());
        }
        let sources = match &raw.key_sources {
            None => vec![KeySource::Header("x-api-key".into())],
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new(
                    format!("{field}.key_sources"),
                    "must not be empty (omit it for the default x-api-key header)",
                ))
            }
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, s)| compile_source(&format!("{field}.key_sources[{i}]"), s))
                .collect::<Result<_, _>>()?,
        };
        let forward_client_header = match &raw.forward_client_header {
            Some(h) => Some(fields::header_to_set(
                &format!("{field}.forward_client_header"),
                h,
            )?),
            None => None,
        };
        Ok(ApiKeyProvider {
            digests,
            clients,
            sources,
            forward_client_header,
            hide_credentials: raw.hide_credentials.unwrap_or(false),
        })
    }

    /// Checks a key found in source `source`.
    pub fn check(&self, key: &str, source: usize, req: &Request) -> Result<Accepted, Denial> {
        if key.len() > MAX_KEY_LEN {
            return Err(Denial::InvalidCredentials("API key too long"));
        }
        let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Visit every digest whatever matches, so the time taken says nothing about which key
        // (or how much of one) was right.
        let mut hit = Choice::from(0);
        let mut who = 0u32;
        for (i, d) in self.digests.iter().enumerate() {
            let eq = presented.ct_eq(d);
            who.conditional_assign(&(i as u32), eq);
            hit |= eq;
        }
        if !bool::from(hit) {
            return Err(Denial::InvalidCredentials("unknown API key"));
        }
        let client = &self.clients[who as usize];
        let mut edits = HeaderEdits::default();
        if let Some(h) = &self.forward_client_header {
            edits.set.push((h.clone(), client.clone()));
        }
        if self.hide_credentials {
            locate::hide(self.sources[source].place(), req, &mut edits);
        }
        Ok(Accepted {
            edits,
            identity: Some(client.clone()),
            ..Accepted::default()
        })
    }
}

impl KeySource {
    /// Where this source is in a request.
    pub fn place(&self) -> Place<'_> {
        match self {
            KeySource::Header(h) => Place::Header(h),
            KeySource::Query(q) => Place::Query(q),
            KeySource::Cookie(c) => Place::Cookie(c),
        }
    }
}

/// Compiles an `api_key` provider from its configuration object (the registry's entry).
pub fn from_config(setup: &Setup, value: Value) -> Result<Box<dyn Provider>, ConfigError> {
    let raw: RawApiKey = section(&setup.field(), value)?;
    Ok(Box::new(ApiKeyProvider::compile(setup.name, &raw)?))
}

impl Provider for ApiKeyProvider {
    fn reads_query(&self) -> bool {
        self.sources
            .iter()
            .any(|s| matches!(s, KeySource::Query(_)))
    }

    fn scheme(&self) -> Scheme {
        Scheme::ApiKey
    }

    fn challenge(&self, realm: &str) -> Challenge {
        match self.sources.first() {
            Some(KeySource::Query(n)) => Challenge::api_key(realm, "query", n),
            Some(KeySource::Cookie(n)) => Challenge::api_key(realm, "cookie", n),
            Some(KeySource::Header(n)) => Challenge::api_key(realm, "header", n),
            None => Challenge::api_key(realm, "header", "x-api-key"),
        }
    }

    fn find(&self, req: &Request, _auth: &Authorization) -> Found {
        locate::in_one_place(self.sources.iter().map(|source| match source.place() {
            Place::Header(h) => locate::header_lines(req, h),
            Place::Query(q) => locate::query_param(&req.path_and_query(), q),
            Place::Cookie(c) => locate::cookie(req, c),
        }))
    }

    fn reads_authorization(&self, source: usize) -> bool {
        matches!(self.sources.get(source), Some(KeySource::Header(h)) if h == "authorization")
    }

    fn verify(
        &self,
        key: &str,
        source: usize,
        req: &Request,
        _now: u64,
    ) -> Result<Accepted, Rejection> {
        self.check(key, source, req).map_err(Rejection::Refused)
    }

    fn headers_read(&self) -> Vec<&str> {
        self.sources
            .iter()
            .filter_map(|s| match s {
                KeySource::Header(h) => Some(h.as_str()),
                _ => None,
            })
            .collect()
    }

    fn headers_set(&self) -> Vec<(&'static str, &str)> {
        self.forward_client_header
            .iter()
            .map(|h| ("forward_client_header", h.as_str()))
            .collect()
    }
}

fn compile_source(field: &str, s: &RawKeySource) -> Result<KeySource, ConfigError> {
    let name_ok = |kind: &str, n: &str| {
        if fields::is_token(n) {
            Ok(n.to_string())
        } else {
            Err(ConfigError::new(
                format!("{field}.{kind}"),
                "must be a non-empty token (letters, digits, -_.~ and the like)",
            ))
        }
    };
    match (&s.header, &s.query, &s.cookie) {
        (Some(h), None, None) => Ok(KeySource::Header(fields::header_to_read(
            &format!("{field}.header"),
            h,
        )?)),
        (None, Some(q), None) => Ok(KeySource::Query(name_ok("query", q)?)),
        (None, None, Some(c)) => Ok(KeySource::Cookie(name_ok("cookie", c)?)),
        _ => Err(ConfigError::new(
            field,
            "needs exactly one of `header`, `query` and `cookie`",
        )),
    }
}

fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests;
