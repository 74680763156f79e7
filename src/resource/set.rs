//! The protected resources of one configuration (`resource`, or `resources`): refused at load
//! when two share an id or a metadata URL; for a request, the document it asks for, the
//! resource it is under (the most specific one whose id covers it), and the resource its
//! tokens must be for.

use super::RawResource;
use super::Resource;
use crate::error::ConfigError;

/// Every protected resource, in the configuration's order.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    list: Vec<Resource>,
}

impl Resources {
    /// Validates `resource` or `resources` (not both). `bearer_methods` and `members` go into
    /// every document (see [`Resource::compile`]).
    pub fn compile(
        one: Option<&RawResource>,
        several: Option<&[RawResource]>,
        bearer_methods: &[&str],
        members: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, ConfigError> {
        let raws: Vec<(String, &RawResource)> =
            match (one, several) {
                (Some(_), Some(_)) => return Err(ConfigError::new(
                    "resources",
                    "give `resource` or `resources`, not both (`resource` is the one-element case)",
                )),
                (Some(r), None) => vec![("resource".into(), r)],
                (None, Some([])) => {
                    return Err(ConfigError::new(
                        "resources",
                        "must not be empty (omit it when nothing is a protected resource)",
                    ))
                }
                (None, Some(l)) => l
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (format!("resources[{i}]"), r))
                    .collect(),
                (None, None) => vec![],
            };
        let mut list: Vec<Resource> = Vec::with_capacity(raws.len());
        for (at, raw) in raws {
            let r = Resource::compile_at(&at, raw, bearer_methods, members.clone())?;
            for (i, seen) in list.iter().enumerate() {
                let why = if seen.id == r.id {
                    format!("is the id of resources[{i}] too")
                } else if seen.metadata_url == r.metadata_url {
                    format!(
                        "its metadata URL {} is resources[{i}]'s too (ids that differ only in a trailing `/`)",
                        r.metadata_url
                    )
                } else if seen.host() == r.host()
                    && seen.origin_parts() != r.origin_parts()
                    && (seen.path_covers(&r) || r.path_covers(seen))
                {
                    // A request that names no port (or another one) could be under either:
                    // which one a token must be for would be the client's choice.
                    format!(
                        "is on the host of resources[{i}] with another port or scheme, and one path holds the other: a request could not tell them apart"
                    )
                } else {
                    continue;
                };
                return Err(ConfigError::new(format!("{at}.id"), why));
            }
            list.push(r);
        }
        Ok(Resources { list })
    }

    /// Sets the `token_exchange` of the `i`-th resource.
    pub fn set_exchange(&mut self, i: usize, exchange: std::rc::Rc<crate::exchange::Exchange>) {
        if let Some(r) = self.list.get_mut(i) {
            r.exchange = Some(exchange);
        }
    }

    /// No resource is configured.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The resources in the configuration's order.
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.list.iter()
    }

    /// Every id: the audiences a token provider without its own accepts.
    pub fn ids(&self) -> Vec<String> {
        self.list.iter().map(|r| r.id.clone()).collect()
    }

    /// The resource whose metadata document `path` asks for. Two resources on different hosts
    /// can share a path: then the one at the request's origin (else the first).
    pub fn document_at(&self, authority: Option<&str>, path: &str) -> Option<&Resource> {
        let mut at_path = self.list.iter().filter(|r| r.metadata_path == path);
        let first = at_path.next()?;
        Some(
            std::iter::once(first)
                .chain(at_path)
                .find(|r| r.at_origin(authority))
                .unwrap_or(first),
        )
    }

    /// The resource a request for `path` at `authority` is under: the one with the longest
    /// id path among those that cover it (RFC 9728 §3.3: only that one may be advertised).
    pub fn under(&self, authority: Option<&str>, path: &str) -> Option<&Resource> {
        self.list
            .iter()
            .filter(|r| r.covers(authority, path))
            .max_by_key(|r| r.path().len())
    }

    /// The resource a token must be for: the one the request is under, or with a single
    /// resource, that one wherever the request goes (as `resource` always behaved).
    pub fn audience_of(&self, authority: Option<&str>, path: &str) -> Option<&Resource> {
        match self.list.as_slice() {
            [only] => Some(only),
            _ => self.under(authority, path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(id: &str) -> RawResource {
        RawResource {
            id: id.into(),
            authorization_servers: vec!["https://idp.example.com".into()],
            scopes_supported: None,
            resource_name: None,
            resource_documentation: None,
            token_exchange: None,
        }
    }

    fn set(ids: &[&str]) -> Result<Resources, ConfigError> {
        let raws: Vec<RawResource> = ids.iter().map(|i| raw(i)).collect();
        Resources::compile(None, Some(&raws), &["header"], &Default::default())
    }

    #[test]
    fn refused_at_load() {
        for (name, ids, want) in [
            ("empty", vec![], "resources: must not be empty"),
            (
                "same id",
                vec!["https://a.example/gh", "https://a.example/gh"],
                "resources[1].id: is the id of resources[0] too",
            ),
            (
                "same metadata URL",
                vec!["https://a.example/gh", "https://a.example/gh/"],
                "resources[1].id: its metadata URL https://a.example/.well-known/oauth-protected-resource/gh is resources[0]'s too",
            ),
            (
                "only the port differs",
                vec!["https://a.example/gh", "https://a.example:8443/gh"],
                "resources[1].id: is on the host of resources[0] with another port or scheme",
            ),
            (
                "another port, a path inside",
                vec!["https://a.example/mcp", "https://a.example:8443/mcp/admin"],
                "resources[1].id: is on the host of resources[0] with another port or scheme",
            ),
            (
                "a bad id names its entry",
                vec!["https://a.example/gh", "ftp://a.example/db"],
                "resources[1].id: must be an https URL",
            ),
        ] {
            let got = set(&ids).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(got.contains(want), "{name}: {got}");
        }
        let both = Resources::compile(
            Some(&raw("https://a.example")),
            Some(&[raw("https://b.example")]),
            &[],
            &Default::default(),
        );
        assert!(both.is_err_and(|e| e.field == "resources"));
    }

    #[test]
    fn which_resource_a_request_is_under() {
        let s = set(&[
            "https://a.example/",
            "https://a.example/gh",
            "https://a.example/db",
            "https://b.example/gh",
        ])
        .unwrap();
        let under =
            |authority: &str, path: &str| s.under(Some(authority), path).map(|r| r.id.as_str());
        for (name, authority, path, want) in [
            (
                "the most specific",
                "a.example",
                "/gh/mcp",
                Some("https://a.example/gh"),
            ),
            (
                "its own path",
                "a.example",
                "/gh",
                Some("https://a.example/gh"),
            ),
            (
                "whole segments only",
                "a.example",
                "/ghost",
                Some("https://a.example/"),
            ),
            (
                "another host",
                "b.example:443",
                "/gh",
                Some("https://b.example/gh"),
            ),
            ("another port", "b.example:8443", "/gh", None),
            ("not a host of any", "c.example", "/gh", None),
        ] {
            assert_eq!(under(authority, path), want, "{name}");
        }
        let doc = |authority: &str| {
            s.document_at(Some(authority), "/.well-known/oauth-protected-resource/gh")
                .map(|r| r.id.as_str())
        };
        assert_eq!(doc("b.example"), Some("https://b.example/gh"));
        assert_eq!(doc("c.example"), Some("https://a.example/gh"));
        // Several: a request under none has no resource to be for; one: always that one.
        assert!(s.audience_of(Some("c.example"), "/").is_none());
        let one = set(&["https://a.example/gh"]).unwrap();
        assert!(one.audience_of(Some("internal:8080"), "/x").is_some());
    }
}
