//! The `api_key` provider: finds a key in a header, query parameter or cookie and matches it
//! against the configured keys by SHA-256 in constant time. Only digests are kept in memory.

use super::{locate, Found, Verified};
use crate::config::fields;
use crate::config::raw::{RawApiKey, RawKeySource};
use crate::error::{ConfigError, Denial};
use crate::request::Request;
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

    /// Looks for the key in every source.
    pub fn find(&self, req: &Request) -> Found {
        locate::in_one_place(self.sources.iter().map(|source| match source {
            KeySource::Header(h) => locate::header_lines(req, h),
            KeySource::Query(q) => locate::query_param(&req.path_and_query(), q),
            KeySource::Cookie(c) => locate::cookie(req, c),
        }))
    }

    /// Checks a key found in source `source`.
    pub fn verify(&self, key: &str, source: usize, req: &Request) -> Result<Verified, Denial> {
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
        let mut v = Verified {
            identity: Some(self.clients[who as usize].clone()),
            ..Verified::default()
        };
        if let Some(h) = &self.forward_client_header {
            v.set.push((h.clone(), self.clients[who as usize].clone()));
        }
        if self.hide_credentials {
            self.hide(source, req, &mut v);
        }
        Ok(v)
    }

    fn hide(&self, source: usize, req: &Request, v: &mut Verified) {
        match &self.sources[source] {
            KeySource::Header(h) => v.remove.push(h.clone()),
            KeySource::Query(q) => v.set.push((
                ":path".into(),
                locate::without_query_param(&req.path_and_query(), q),
            )),
            KeySource::Cookie(c) => {
                match locate::without_cookie(&req.header("cookie").unwrap_or_default(), c) {
                    Some(rest) => v.set.push(("cookie".into(), rest)),
                    None => v.remove.push("cookie".into()),
                }
            }
        }
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
mod tests {
    use super::*;
    use crate::config::raw::RawApiKeyCredential;
    use crate::request::HeaderList;

    fn provider(sources: Option<Vec<RawKeySource>>, hide: bool) -> ApiKeyProvider {
        ApiKeyProvider::compile(
            "partners",
            &RawApiKey {
                credentials: vec![
                    RawApiKeyCredential {
                        client: "acme".into(),
                        key: Some("k-1".into()),
                        key_sha256: None,
                    },
                    RawApiKeyCredential {
                        client: "globex".into(),
                        key: None,
                        key_sha256: Some(format!("{:x}", Sha256::digest(b"k-2")).to_uppercase()),
                    },
                ],
                key_sources: sources,
                forward_client_header: Some("x-auth-client".into()),
                hide_credentials: Some(hide),
            },
        )
        .unwrap()
    }

    fn src(h: Option<&str>, q: Option<&str>, c: Option<&str>) -> RawKeySource {
        RawKeySource {
            header: h.map(Into::into),
            query: q.map(Into::into),
            cookie: c.map(Into::into),
        }
    }

    fn all_sources() -> Option<Vec<RawKeySource>> {
        Some(vec![
            src(Some("X-Api-Key"), None, None),
            src(None, Some("api_key"), None),
            src(None, None, Some("api_key")),
        ])
    }

    #[test]
    fn find_table() {
        let p = provider(all_sources(), false);
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Found);
        let cases: &[Case] = &[
            (
                "header",
                "/",
                &[("x-api-key", "k-1")],
                Found::One("k-1".into(), 0),
            ),
            (
                "query",
                "/a?x=1&api_key=k%2D1",
                &[],
                Found::One("k-1".into(), 1),
            ),
            (
                "cookie",
                "/",
                &[("cookie", "a=b; api_key=k-1")],
                Found::One("k-1".into(), 2),
            ),
            ("none", "/?other=1", &[("cookie", "a=b")], Found::Absent),
            ("empty header", "/", &[("x-api-key", "")], Found::Absent),
            (
                "header and query",
                "/?api_key=k-1",
                &[("x-api-key", "k-1")],
                Found::Conflict,
            ),
            ("query twice", "/?api_key=a&api_key=b", &[], Found::Conflict),
            (
                "cookie twice",
                "/",
                &[("cookie", "api_key=a; api_key=b")],
                Found::Conflict,
            ),
            (
                "header twice",
                "/",
                &[("x-api-key", "a"), ("x-api-key", "b")],
                Found::Conflict,
            ),
        ];
        for (name, path, headers, want) in cases {
            let view = HeaderList::new("GET", path, headers);
            assert_eq!(&p.find(&Request::new(&view)), want, "{name}");
        }
    }

    #[test]
    fn verify_table() {
        let p = provider(None, false);
        let view = HeaderList::new("GET", "/", &[]);
        let req = Request::new(&view);
        let client = |c: &str| vec![("x-auth-client".to_string(), c.to_string())];
        assert_eq!(p.verify("k-1", 0, &req).unwrap().set, client("acme"));
        assert_eq!(p.verify("k-2", 0, &req).unwrap().set, client("globex"));
        assert_eq!(
            p.verify("k-3", 0, &req),
            Err(Denial::InvalidCredentials("unknown API key"))
        );
        assert_eq!(
            p.verify("K-1", 0, &req),
            Err(Denial::InvalidCredentials("unknown API key"))
        );
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert_eq!(
            p.verify(&long, 0, &req),
            Err(Denial::InvalidCredentials("API key too long"))
        );
    }

    #[test]
    fn hides_the_key() {
        let p = provider(all_sources(), true);
        let view = HeaderList::new(
            "GET",
            "/a?x=1&api_key=k-1&y=2",
            &[("cookie", "s=1; api_key=k-1")],
        );
        let req = Request::new(&view);
        assert_eq!(
            p.verify("k-1", 0, &req).unwrap().remove,
            vec!["x-api-key".to_string()]
        );
        assert!(p
            .verify("k-1", 1, &req)
            .unwrap()
            .set
            .contains(&(":path".into(), "/a?x=1&y=2".into())));
        assert!(p
            .verify("k-1", 2, &req)
            .unwrap()
            .set
            .contains(&("cookie".into(), "s=1".into())));
    }

    #[test]
    fn config_errors() {
        let base = || RawApiKey {
            credentials: vec![],
            key_sources: None,
            forward_client_header: None,
            hide_credentials: None,
        };
        let cred = |k: Option<&str>, s: Option<&str>| RawApiKeyCredential {
            client: "c".into(),
            key: k.map(Into::into),
            key_sha256: s.map(Into::into),
        };
        let cases: Vec<(&str, RawApiKey, &str)> = vec![
            ("empty", base(), "providers.p.credentials"),
            (
                "both",
                RawApiKey {
                    credentials: vec![cred(Some("a"), Some("b"))],
                    ..base()
                },
                "providers.p.credentials[0]",
            ),
            (
                "bad hex",
                RawApiKey {
                    credentials: vec![cred(None, Some("zz"))],
                    ..base()
                },
                "providers.p.credentials[0].key_sha256",
            ),
            (
                "dup",
                RawApiKey {
                    credentials: vec![cred(Some("a"), None), cred(Some("a"), None)],
                    ..base()
                },
                "providers.p.credentials[1]",
            ),
            (
                "no sources",
                RawApiKey {
                    credentials: vec![cred(Some("a"), None)],
                    key_sources: Some(vec![]),
                    ..base()
                },
                "providers.p.key_sources",
            ),
            (
                "two kinds",
                RawApiKey {
                    credentials: vec![cred(Some("a"), None)],
                    key_sources: Some(vec![src(Some("h"), Some("q"), None)]),
                    ..base()
                },
                "providers.p.key_sources[0]",
            ),
        ];
        for (name, raw, field) in cases {
            let err = ApiKeyProvider::compile("p", &raw).unwrap_err();
            assert_eq!(err.field, field, "{name}: {err}");
        }
    }
}
