//! A remote JWKS: where it is fetched from, and when a fetch is due. The fetching itself is
//! the host's (an HTTP call through an Envoy cluster, one for all workers); this decides.

use super::jwks::{self, KeySet};
use crate::error::ConfigError;
use crate::json;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::rc::Rc;

/// Longest JWKS body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// Where a key set is fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URI (for logs and shared-data keys).
    pub uri: String,
    /// The Envoy cluster the call goes through.
    pub cluster: String,
    /// `:authority` of the call.
    pub authority: String,
    /// `:path` of the call.
    pub path: String,
}

/// Finding the key set from the issuer (OpenID Connect Discovery 1.0 §4, then RFC 8414 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The issuer the metadata document must name, exactly.
    pub issuer: String,
    /// The cluster that reaches the issuer.
    pub cluster: String,
    /// `:authority` of the metadata calls.
    pub authority: String,
    /// The two metadata paths, tried in order: OpenID Connect, then RFC 8414.
    pub paths: [String; 2],
    /// The cluster that reaches `jwks_uri`.
    pub jwks_cluster: String,
}

/// A remote key set and its fetch schedule.
#[derive(Debug)]
pub struct RemoteJwks {
    /// How long a fetch may take, and how long a request may wait for the first key set.
    pub timeout_ms: u64,
    /// Refetch this long after a successful fetch (and rediscover, with discovery).
    pub cache_duration: u64,
    /// A token with an unknown `kid` triggers a refetch at most this often.
    pub min_refetch_interval: u64,
    /// With discovery: how the target is found.
    pub discovery: Option<Discovery>,
    target: RefCell<Option<Target>>,
    /// With discovery: the issuer's whole metadata document as last read, for the providers
    /// that need more of it than `jwks_uri` (sign-in's endpoints).
    document: RefCell<Option<Rc<Map<String, Value>>>>,
    state: RefCell<State>,
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Rc<KeySet>>,
    /// When the installed key set was fetched (seconds).
    fetched_at: Option<u64>,
    refresh_wanted: bool,
    /// With discovery: when the metadata document was last read (seconds).
    discovered_at: Option<u64>,
}

/// `(authority, path)` of an http(s) URI, or why not.
pub(crate) fn split_uri(uri: &str) -> Result<(String, String), &'static str> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .ok_or("must be an http:// or https:// URI")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains(['@', ' ']) || path.contains([' ', '#']) {
        return Err("is not a valid URI");
    }
    Ok((authority.to_string(), path.to_string()))
}

/// Where `issuer`'s metadata is (for provider `field`): the `:authority`, and the two paths
/// tried in order, OpenID Connect Discovery 1.0 §4 then RFC 8414 §3.
pub fn metadata_location(field: &str, issuer: &str) -> Result<(String, [String; 2]), ConfigError> {
    let (authority, path) = split_uri(issuer).map_err(|why| {
        ConfigError::new(
            format!("{field}.issuer"),
            format!("{why}: discovery reads the metadata at the issuer's URL"),
        )
    })?;
    if issuer.contains('?') {
        return Err(ConfigError::new(
            format!("{field}.issuer"),
            "must not have a query: discovery reads the metadata at the issuer's URL",
        ));
    }
    let path = path.trim_end_matches('/');
    Ok((
        authority,
        [
            format!("{path}/.well-known/openid-configuration"),
            format!("/.well-known/oauth-authorization-server{path}"),
        ],
    ))
}

/// The URL a metadata document names as `member` (`jwks_uri`, `introspection_endpoint`), when
/// the document's `issuer` is exactly `issuer` (RFC 8414 §3.3) and the URL is https (or http,
/// for an http issuer).
pub fn metadata_member(body: &[u8], issuer: &str, member: &str) -> Result<String, String> {
    member_url(&metadata_document(body, issuer)?, issuer, member)
}

/// An issuer's metadata document, when its `issuer` is exactly `issuer` (RFC 8414 §3.3).
pub fn metadata_document(body: &[u8], issuer: &str) -> Result<Map<String, Value>, String> {
    let Value::Object(doc) = json::parse_strict(body).map_err(|e| format!("not JSON: {e}"))? else {
        return Err("not a JSON object".into());
    };
    let named = doc
        .get("issuer")
        .and_then(|v| v.as_str())
        .ok_or("no `issuer`")?;
    if named != issuer {
        return Err(format!(
            "the document's issuer is {named:?} but the configured issuer is {issuer:?}; they must be identical (a trailing slash counts)"
        ));
    }
    Ok(doc)
}

/// The URL `doc` names as `member`, when it is https (or http, for an http issuer).
pub fn member_url(doc: &Map<String, Value>, issuer: &str, member: &str) -> Result<String, String> {
    let uri = doc
        .get(member)
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("no `{member}`"))?;
    split_uri(uri).map_err(|why| format!("`{member}` {why}"))?;
    if !uri.starts_with("https://") && issuer.starts_with("https://") {
        return Err(format!("`{member}` {uri:?} is not https"));
    }
    Ok(uri.to_string())
}

pub(crate) fn check_timing(
    field: &str,
    timeout_ms: Option<u64>,
    cache_duration: Option<u64>,
) -> Result<(u64, u64), ConfigError> {
    let timeout_ms = timeout_ms.unwrap_or(1000);
    if !(1..=60_000).contains(&timeout_ms) {
        return Err(ConfigError::new(
            format!("{field}.timeout_ms"),
            "must be 1 to 60000",
        ));
    }
    let cache_duration = cache_duration.unwrap_or(600);
    if cache_duration == 0 {
        return Err(ConfigError::new(
            format!("{field}.cache_duration_seconds"),
            "must be at least 1",
        ));
    }
    Ok((timeout_ms, cache_duration))
}

impl RemoteJwks {
    /// Validates `remote_jwks` of provider `field`.
    pub fn compile(
        field: &str,
        uri: &str,
        cluster: &str,
        timeout_ms: Option<u64>,
        cache_duration: Option<u64>,
        min_refetch: Option<u64>,
    ) -> Result<Self, ConfigError> {
        let (authority, path) =
            split_uri(uri).map_err(|why| ConfigError::new(format!("{field}.uri"), why))?;
        if cluster.is_empty() {
            return Err(ConfigError::new(
                format!("{field}.cluster"),
                "must name an Envoy cluster",
            ));
        }
        let (timeout_ms, cache_duration) = check_timing(field, timeout_ms, cache_duration)?;
        Ok(RemoteJwks {
            timeout_ms,
            cache_duration,
            min_refetch_interval: min_refetch.unwrap_or(30),
            discovery: None,
            target: RefCell::new(Some(Target {
                uri: uri.to_string(),
                cluster: cluster.to_string(),
                authority,
                path,
            })),
            state: RefCell::new(State::default()),
            document: RefCell::new(None),
        })
    }

    /// Validates `discovery` of provider `field` for `issuer`: the key set is found from the
    /// issuer's metadata.
    pub fn discover(
        field: &str,
        issuer: &str,
        cluster: &str,
        jwks_cluster: Option<&str>,
        timeout_ms: Option<u64>,
        cache_duration: Option<u64>,
    ) -> Result<Self, ConfigError> {
        let (authority, paths) = metadata_location(field, issuer)?;
        for (name, c) in [("cluster", Some(cluster)), ("jwks_cluster", jwks_cluster)] {
            if c.is_some_and(str::is_empty) {
                return Err(ConfigError::new(
                    format!("{field}.discovery.{name}"),
                    "must name an Envoy cluster",
                ));
            }
        }
        let (timeout_ms, cache_duration) =
            check_timing(&format!("{field}.discovery"), timeout_ms, cache_duration)?;
        Ok(RemoteJwks {
            timeout_ms,
            cache_duration,
            min_refetch_interval: 30,
            discovery: Some(Discovery {
                issuer: issuer.to_string(),
                cluster: cluster.to_string(),
                authority,
                paths,
                jwks_cluster: jwks_cluster.unwrap_or(cluster).to_string(),
            }),
            target: RefCell::new(None),
            state: RefCell::new(State::default()),
            document: RefCell::new(None),
        })
    }

    /// Where the key set is fetched from; `None` until discovery found it.
    pub fn target(&self) -> Option<Target> {
        self.target.borrow().clone()
    }

    /// What logs call this key set: its URI, or the issuer while it is being discovered.
    pub fn label(&self) -> String {
        match (self.target(), &self.discovery) {
            (Some(t), _) => t.uri,
            (None, Some(d)) => format!("the metadata of {}", d.issuer),
            (None, None) => String::new(),
        }
    }

    /// Whether the issuer's metadata should be read at `now`: never read yet, or older
    /// than `cache_duration`.
    pub fn discovery_due(&self, now: u64) -> bool {
        self.discovery.is_some()
            && self
                .state
                .borrow()
                .discovered_at
                .is_none_or(|at| now >= at + self.cache_duration)
    }

    /// Reads a metadata document: the `jwks_uri` it names (see [`metadata_member`]).
    pub fn read_metadata(&self, body: &[u8]) -> Result<(String, Map<String, Value>), String> {
        let d = self.discovery.as_ref().ok_or("no discovery")?;
        let doc = metadata_document(body, &d.issuer)?;
        Ok((member_url(&doc, &d.issuer, "jwks_uri")?, doc))
    }

    /// Keeps the issuer's metadata document.
    pub fn set_document(&self, doc: Map<String, Value>) {
        *self.document.borrow_mut() = Some(Rc::new(doc));
    }

    /// The issuer's metadata document, once discovery has read one.
    pub fn document(&self) -> Option<Rc<Map<String, Value>>> {
        self.document.borrow().clone()
    }

    /// Uses `jwks_uri` (discovered at `at`) from now on; `true` when it changed.
    pub fn set_discovered(&self, jwks_uri: &str, at: u64) -> bool {
        let Some(d) = &self.discovery else {
            return false;
        };
        self.state.borrow_mut().discovered_at = Some(at);
        let Ok((authority, path)) = split_uri(jwks_uri) else {
            return false;
        };
        let target = Target {
            uri: jwks_uri.to_string(),
            cluster: d.jwks_cluster.clone(),
            authority,
            path,
        };
        let changed = self.target.borrow().as_ref() != Some(&target);
        *self.target.borrow_mut() = Some(target);
        changed
    }

    /// The installed key set, if one was ever fetched.
    pub fn keys(&self) -> Option<Rc<KeySet>> {
        self.state.borrow().keys.clone()
    }

    /// When the installed key set was fetched.
    pub fn fetched_at(&self) -> Option<u64> {
        self.state.borrow().fetched_at
    }

    /// A token named a key this set does not have: the set may have rotated.
    pub fn want_refresh(&self) {
        self.state.borrow_mut().refresh_wanted = true;
    }

    /// Whether an unknown `kid` may trigger a refetch at `now` (at most once per
    /// `min_refetch_interval`).
    pub fn refetch_allowed(&self, now: u64) -> bool {
        self.fetched_at()
            .is_none_or(|at| now >= at + self.min_refetch_interval)
    }

    /// Whether a fetch is due at `now`, given when the newest key set (any worker's) was
    /// fetched.
    pub fn fetch_due(&self, now: u64, newest_fetch: Option<u64>) -> bool {
        let Some(at) = newest_fetch else {
            return true;
        };
        let s = self.state.borrow();
        now >= at + self.cache_duration
            || (s.refresh_wanted && now >= at + self.min_refetch_interval)
    }

    /// Parses a fetched body (`host`: the host verifies signatures). On error the installed
    /// keys stay as they are.
    pub fn parse(body: &[u8], host: bool) -> Result<KeySet, String> {
        if body.len() > MAX_BODY {
            return Err(format!("body larger than {MAX_BODY} bytes"));
        }
        let value = json::parse_strict(body).map_err(|e| format!("not JSON: {e}"))?;
        jwks::parse(&value, false, host)
    }

    /// Installs a key set fetched at `fetched_at`; returns the fingerprints of the keys it
    /// holds, so verifications made with keys that left can be dropped.
    pub fn install(&self, set: KeySet, fetched_at: u64) -> Vec<u64> {
        let prints = set.keys.iter().map(|k| k.fingerprint).collect();
        let mut s = self.state.borrow_mut();
        s.keys = Some(Rc::new(set));
        s.fetched_at = Some(fetched_at);
        s.refresh_wanted = false;
        prints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_and_limits() {
        let r = RemoteJwks::compile(
            "p",
            "https://idp.example.com/.well-known/jwks.json",
            "idp",
            None,
            None,
            None,
        )
        .unwrap();
        let t = r.target().unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("idp.example.com", "/.well-known/jwks.json")
        );
        assert_eq!((r.timeout_ms, r.cache_duration), (1000, 600));
        let r = RemoteJwks::compile("p", "http://127.0.0.1:9000", "c", Some(5), Some(1), Some(0))
            .unwrap();
        assert_eq!(r.target().unwrap().path, "/");
        for (uri, cluster, t) in [
            ("ftp://x/", "c", None),
            ("https:///x", "c", None),
            ("https://x/", "", None),
            ("https://x/", "c", Some(0)),
        ] {
            assert!(
                RemoteJwks::compile("p", uri, cluster, t, None, None).is_err(),
                "{uri}"
            );
        }
    }

    #[test]
    fn schedule() {
        let r = RemoteJwks::compile("p", "https://x/", "c", None, Some(600), Some(30)).unwrap();
        assert!(r.fetch_due(1000, None), "never fetched");
        assert!(!r.fetch_due(1000, Some(900)));
        assert!(r.fetch_due(1500, Some(900)), "cache expired");
        r.want_refresh();
        assert!(!r.fetch_due(910, Some(900)), "rate-limited");
        assert!(
            r.fetch_due(930, Some(900)),
            "unknown kid after the interval"
        );
    }
}
