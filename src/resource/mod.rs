//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the top-level `resource` object, the
//! metadata document authgate serves itself at the well-known URL (§3.1: the well-known path
//! inserted before the resource's path), and that URL, which the token challenges and problem
//! bodies of requests inside the resource carry (§5.1) so a client learns where to get a
//! token. The MCP authorization specification makes both a MUST for MCP servers. [`set`] holds
//! several, and says which one a request is under.

pub mod set;

use crate::error::ConfigError;
use crate::reply::Reply;
use crate::schema::decode::raw_struct;

raw_struct! {
    /// `resource` (RFC 9728 §2).
    #[derive(Debug)]
    pub struct RawResource {
        /// The resource identifier: an absolute https URL without query or fragment.
        pub id: String,
        /// Issuer URLs of the authorization servers that issue tokens for it.
        pub authorization_servers: Vec<String>,
        /// Scopes the resource advertises.
        pub scopes_supported: Option<Vec<String>>,
        /// A name for people.
        pub resource_name: Option<String>,
        /// A documentation URL for people.
        pub resource_documentation: Option<String>,
        /// Exchange the caller's token for one issued for this resource (RFC 8693).
        pub token_exchange: Option<crate::exchange::RawTokenExchange>,
    }
}

/// The well-known path prefix (RFC 9728 §3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A compiled `resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The resource identifier (`resource` in the document; the default token audience).
    pub id: String,
    /// The id's host ([`crate::rules::host_of`]), port (given or its scheme's default) and
    /// path without a trailing `/`: the requests the resource covers.
    within: (String, String, String),
    /// The path the document is served at.
    pub metadata_path: String,
    /// The document's absolute URL, for challenges and bodies.
    pub metadata_url: String,
    /// The scopes the resource advertises.
    pub scopes_supported: Vec<String>,
    /// The metadata document (RFC 9728 §2), rendered once at load.
    pub document: String,
    /// `token_exchange`: requests under the resource go upstream with a token issued for it.
    pub exchange: Option<std::rc::Rc<crate::exchange::Exchange>>,
}

/// `scheme`, `authority`, `path` of an absolute URL without query or fragment.
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    (!authority.is_empty()).then_some((scheme, authority, path))
}

fn is_local(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

impl Resource {
    /// Validates `resource`. `bearer_methods` are how tokens may be sent (`header`, `query`),
    /// from the token sources of the token providers; `members` are more members of the
    /// document (what tokens are bound to, [`crate::binding::metadata`]).
    pub fn compile(
        raw: &RawResource,
        bearer_methods: &[&str],
        members: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, ConfigError> {
        Self::compile_at("resource", raw, bearer_methods, members)
    }

    /// [`Resource::compile`] for the one at JSON path `at` (`resource`, `resources[1]`).
    pub fn compile_at(
        at: &str,
        raw: &RawResource,
        bearer_methods: &[&str],
        members: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, ConfigError> {
        let bad_id = |why: &str| ConfigError::new(format!("{at}.id"), why.to_string());
        let id = raw.id.as_str();
        if id.contains('#') || id.contains('?') {
            return Err(bad_id(
                "must not have a query or a fragment (RFC 9728 §1.2)",
            ));
        }
        if !fields_ok(id) {
            return Err(bad_id(
                "must be visible ASCII without quotes or backslashes",
            ));
        }
        let (scheme, authority, path) =
            split_url(id).ok_or_else(|| bad_id("must be an absolute https URL"))?;
        match scheme {
            "https" => {}
            "http" if is_local(authority) => {}
            _ => {
                return Err(bad_id(
                    "must be an https URL (http only for 127.0.0.1 or localhost)",
                ))
            }
        }
        // Requests are matched in their normal form: an id's path written otherwise would
        // cover none of them.
        if !path.is_empty() && crate::path::normal(path).map_or(true, |n| n.path != path) {
            return Err(bad_id(
                "its path must be in normal form (no `//`, `.` or `..` segments, no `%`-escapes of letters, digits or `-._~`)",
            ));
        }
        if raw.authorization_servers.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.authorization_servers"),
                "must name at least one authorization server (its issuer URL)",
            ));
        }
        for (i, a) in raw.authorization_servers.iter().enumerate() {
            if split_url(a).is_none() || !fields_ok(a) {
                return Err(ConfigError::new(
                    format!("{at}.authorization_servers[{i}]"),
                    "must be an absolute URL (the authorization server's issuer)",
                ));
            }
        }
        for (field, v) in [
            ("resource_documentation", &raw.resource_documentation),
            ("resource_name", &raw.resource_name),
        ] {
            if v.as_deref()
                .is_some_and(|v| v.is_empty() || v.chars().any(char::is_control))
            {
                return Err(ConfigError::new(
                    format!("{at}.{field}"),
                    "must be non-empty text",
                ));
            }
        }
        let scopes = raw.scopes_supported.clone().unwrap_or_default();
        for (i, s) in scopes.iter().enumerate() {
            if !crate::schema::fields::is_scope_token(s) {
                return Err(ConfigError::new(
                    format!("{at}.scopes_supported[{i}]"),
                    "is not a valid scope token (RFC 6749 §3.3)",
                ));
            }
        }
        let trimmed = path.trim_end_matches('/');
        let metadata_path = format!("{WELL_KNOWN}{trimmed}");
        let mut doc = serde_json::Map::new();
        doc.insert("resource".into(), id.into());
        for (k, v) in [
            ("resource_name", &raw.resource_name),
            ("resource_documentation", &raw.resource_documentation),
        ] {
            if let Some(v) = v {
                doc.insert(k.into(), v.clone().into());
            }
        }
        doc.insert(
            "authorization_servers".into(),
            raw.authorization_servers.clone().into(),
        );
        if !scopes.is_empty() {
            doc.insert("scopes_supported".into(), scopes.clone().into());
        }
        doc.insert(
            "bearer_methods_supported".into(),
            bearer_methods.to_vec().into(),
        );
        doc.extend(members);
        let (host, port) = crate::rules::split_authority(authority);
        let default_port = if scheme == "https" { "443" } else { "80" };
        let within = (
            host,
            port.unwrap_or(default_port).to_string(),
            trimmed.to_string(),
        );
        Ok(Resource {
            id: id.to_string(),
            within,
            metadata_url: format!("{scheme}://{authority}{metadata_path}"),
            metadata_path,
            scopes_supported: scopes,
            document: serde_json::Value::Object(doc).to_string(),
            exchange: None,
        })
    }

    /// Whether a request for `path` at `authority` is inside this resource, so that its
    /// replies may point at the metadata document (RFC 9728 §3.3: a client rejects a document
    /// whose `resource` is not the resource it called). Inside: the same host, the same port
    /// (a request that names none is taken to use the id's), and a path equal to the id's or
    /// below it by whole segments. The scheme is not compared: TLS often ends before Envoy.
    pub fn covers(&self, authority: Option<&str>, path: &str) -> bool {
        self.at_origin(authority)
            && path
                .strip_prefix(self.within.2.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Whether `authority` names the id's host and port (a request that names no port is
    /// taken to use the id's).
    pub fn at_origin(&self, authority: Option<&str>) -> bool {
        let Some(authority) = authority else {
            return false;
        };
        let (host, port) = crate::rules::split_authority(authority);
        host == self.within.0 && port.is_none_or(|p| p == self.within.1)
    }

    /// The id's path without a trailing `/` (empty for the root).
    pub fn path(&self) -> &str {
        &self.within.2
    }

    /// The id's host, lower-case.
    pub fn host(&self) -> &str {
        &self.within.0
    }

    /// The id's scheme and port (given, or its scheme's default).
    pub fn origin_parts(&self) -> (&str, &str) {
        (self.id.split("://").next().unwrap_or(""), &self.within.1)
    }

    /// Whether this resource's path is `other`'s or contains it by whole segments.
    pub fn path_covers(&self, other: &Resource) -> bool {
        other
            .path()
            .strip_prefix(self.path())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// authgate's own answer at the metadata URL ([`crate::reply::public_document`]). No
    /// credentials are asked for: the document is public by design.
    pub fn answer(&self, method: &str) -> Reply {
        crate::reply::public_document(&self.document, method, 3600)
    }
}

/// Visible ASCII without `"` or `\`: safe inside a quoted challenge parameter.
fn fields_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(id: &str) -> RawResource {
        RawResource {
            id: id.into(),
            authorization_servers: vec!["https://idp.example.com/realms/main".into()],
            scopes_supported: Some(vec!["mcp:tools".into()]),
            resource_name: Some("Orders MCP".into()),
            resource_documentation: None,
            token_exchange: None,
        }
    }

    /// RFC 9728 §3.1: the well-known path goes before the resource's path.
    #[test]
    fn metadata_url_and_document() {
        let r = Resource::compile(
            &raw("https://api.example.com/mcp"),
            &["header"],
            Default::default(),
        )
        .unwrap();
        assert_eq!(r.metadata_path, "/.well-known/oauth-protected-resource/mcp");
        assert_eq!(
            r.metadata_url,
            "https://api.example.com/.well-known/oauth-protected-resource/mcp"
        );
        let doc: serde_json::Value = serde_json::from_str(&r.document).unwrap();
        assert_eq!(doc["resource"], "https://api.example.com/mcp");
        assert_eq!(
            doc["authorization_servers"][0],
            "https://idp.example.com/realms/main"
        );
        assert_eq!(doc["scopes_supported"][0], "mcp:tools");
        assert_eq!(
            doc["bearer_methods_supported"],
            serde_json::json!(["header"])
        );
        assert_eq!(doc["resource_name"], "Orders MCP");
        let root =
            Resource::compile(&raw("https://api.example.com"), &[], Default::default()).unwrap();
        assert_eq!(root.metadata_path, WELL_KNOWN);
        let slash =
            Resource::compile(&raw("http://127.0.0.1:8080/"), &[], Default::default()).unwrap();
        assert_eq!(
            slash.metadata_url,
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn answers_by_method() {
        let r = Resource::compile(
            &raw("https://api.example.com/mcp"),
            &["header"],
            Default::default(),
        )
        .unwrap();
        let get = r.answer("GET");
        assert_eq!(get.status, 200);
        assert!(get
            .headers
            .contains(&("access-control-allow-origin".into(), "*".into())));
        assert_eq!(get.body, r.document);
        assert_eq!(
            (r.answer("HEAD").status, r.answer("HEAD").body.as_str()),
            (200, "")
        );
        assert_eq!(r.answer("OPTIONS").status, 204);
        let post = r.answer("POST");
        assert_eq!(post.status, 405);
        assert!(post
            .headers
            .contains(&("allow".into(), "GET, HEAD, OPTIONS".into())));
    }

    #[test]
    fn refusals_name_the_field() {
        for (id, field) in [
            ("http://api.example.com/mcp", "resource.id"),
            ("https://api.example.com/mcp?x=1", "resource.id"),
            ("https://api.example.com/mcp#f", "resource.id"),
            ("/mcp", "resource.id"),
            ("https://api.example.com/a\"b", "resource.id"),
        ] {
            assert_eq!(
                Resource::compile(&raw(id), &[], Default::default())
                    .unwrap_err()
                    .field,
                field,
                "{id}"
            );
        }
        let mut r = raw("https://api.example.com/mcp");
        r.authorization_servers.clear();
        assert_eq!(
            Resource::compile(&r, &[], Default::default())
                .unwrap_err()
                .field,
            "resource.authorization_servers"
        );
        let mut r = raw("https://api.example.com/mcp");
        r.scopes_supported = Some(vec!["a b".into()]);
        assert_eq!(
            Resource::compile(&r, &[], Default::default())
                .unwrap_err()
                .field,
            "resource.scopes_supported[0]"
        );
        assert!(
            Resource::compile(&raw("http://localhost:3000/mcp"), &[], Default::default()).is_ok()
        );
        assert!(Resource::compile(&raw("http://[::1]:3000/mcp"), &[], Default::default()).is_ok());
    }
}
