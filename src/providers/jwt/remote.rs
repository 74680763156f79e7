//! A remote JWKS: where it is fetched from, and when a fetch is due. The fetching itself is
//! the host's (an HTTP call through an Envoy cluster, one for all workers); this decides.

use super::jwks::{self, KeySet};
use crate::error::ConfigError;
use crate::json;
use std::cell::RefCell;
use std::rc::Rc;

/// Longest JWKS body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// A remote key set and its fetch schedule.
#[derive(Debug)]
pub struct RemoteJwks {
    /// The URI as configured (for logs).
    pub uri: String,
    /// The Envoy cluster the call goes through.
    pub cluster: String,
    /// `:authority` of the call.
    pub authority: String,
    /// `:path` of the call.
    pub path: String,
    /// How long a fetch may take, and how long a request may wait for the first key set.
    pub timeout_ms: u64,
    /// Refetch this long after a successful fetch.
    pub cache_duration: u64,
    /// A token with an unknown `kid` triggers a refetch at most this often.
    pub min_refetch_interval: u64,
    state: RefCell<State>,
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Rc<KeySet>>,
    /// When the installed key set was fetched (seconds).
    fetched_at: Option<u64>,
    refresh_wanted: bool,
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
        let rest = uri
            .strip_prefix("https://")
            .or_else(|| uri.strip_prefix("http://"))
            .ok_or_else(|| {
                ConfigError::new(format!("{field}.uri"), "must be an http:// or https:// URI")
            })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains(['@', ' ']) || path.contains([' ', '#']) {
            return Err(ConfigError::new(
                format!("{field}.uri"),
                "is not a valid URI",
            ));
        }
        if cluster.is_empty() {
            return Err(ConfigError::new(
                format!("{field}.cluster"),
                "must name an Envoy cluster",
            ));
        }
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
        Ok(RemoteJwks {
            uri: uri.to_string(),
            cluster: cluster.to_string(),
            authority: authority.to_string(),
            path: path.to_string(),
            timeout_ms,
            cache_duration,
            min_refetch_interval: min_refetch.unwrap_or(30),
            state: RefCell::new(State::default()),
        })
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
        assert_eq!(
            (r.authority.as_str(), r.path.as_str()),
            ("idp.example.com", "/.well-known/jwks.json")
        );
        assert_eq!((r.timeout_ms, r.cache_duration), (1000, 600));
        let r = RemoteJwks::compile("p", "http://127.0.0.1:9000", "c", Some(5), Some(1), Some(0))
            .unwrap();
        assert_eq!(r.path, "/");
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
