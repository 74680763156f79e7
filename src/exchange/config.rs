//! `token_exchange` on a rule or a `resources` entry, as users write it and as it is compiled:
//! where the authorization server's token endpoint is, the client authgate is there, and what
//! the issued token is for. The request it sends (RFC 8693 §2.1) is built here too; the secret
//! never leaves [`ClientCredentials`].

use crate::error::ConfigError;
use crate::providers::client_secret::{self, ClientCredentials};
use crate::providers::introspection::endpoint::{form_encode, Discovery, Endpoint, Located};
use crate::schema::decode::raw_struct;
use crate::schema::fields;

/// `grant_type` of a token exchange (RFC 8693 §2.1).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The default `subject_token_type`: the caller's token is an access token (RFC 8693 §3).
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Longest `cache_max_seconds` (a day).
const MAX_CACHE_SECONDS: u64 = 86_400;

raw_struct! {
    /// `token_exchange` (RFC 8693). Its `Debug` leaves the secret out.
    pub struct RawTokenExchange {
        /// The authorization server's token endpoint; its host is the call's `:authority`.
        pub token_endpoint: Option<String>,
        /// The issuer whose metadata names the token endpoint (RFC 8414 discovery, read again
        /// every 600 s), instead of `token_endpoint`.
        pub issuer: Option<String>,
        /// The Envoy cluster that reaches the token endpoint.
        pub cluster: String,
        /// The client id authgate authenticates with.
        pub client_id: String,
        /// The client secret, in the configuration (tests and demos).
        pub client_secret: Option<String>,
        /// The name of the environment variable that holds the client secret.
        pub client_secret_env: Option<String>,
        /// `client_secret_basic` (default) or `client_secret_post` (RFC 6749 §2.3.1).
        pub auth_method: Option<String>,
        /// `audience` of the request: the logical name of the upstream the token is for.
        pub audience: Option<String>,
        /// `resource` of the request: the upstream's URL (RFC 8707). On a `resources` entry it
        /// defaults to the entry's `id` when `audience` is not given either.
        pub resource: Option<String>,
        /// `scope` of the request: the scopes the issued token should carry.
        pub scopes: Option<Vec<String>>,
        /// What the caller's token is (default `urn:ietf:params:oauth:token-type:access_token`).
        pub subject_token_type: Option<String>,
        /// What to ask for (`requested_token_type`); left to the server when absent.
        pub requested_token_type: Option<String>,
        /// How long a call may take, and a request wait for it (default 1000).
        pub timeout_ms: Option<u64>,
        /// Longest an issued token is kept (default 300; never past its `expires_in`).
        pub cache_max_seconds: Option<u64>,
    }
}

impl std::fmt::Debug for RawTokenExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawTokenExchange")
            .field("token_endpoint", &self.token_endpoint)
            .field("cluster", &self.cluster)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// How long a discovered token endpoint is used before the metadata is read again (seconds).
const DISCOVERY_SECONDS: u64 = 600;

/// A compiled `token_exchange`.
#[derive(Debug)]
pub struct Exchange {
    /// Where it was configured (`rules[2].token_exchange`), for logs.
    pub at: String,
    /// The token endpoint: configured, or found from `issuer`.
    pub located: Located,
    /// The Envoy cluster the call goes through.
    pub cluster: String,
    client: ClientCredentials,
    /// `audience`, when given.
    pub audience: Option<String>,
    /// `resource`, when given (or defaulted from the resource's id).
    pub resource: Option<String>,
    /// `scope`, space-separated, when given.
    pub scope: Option<String>,
    /// `subject_token_type`.
    pub subject_token_type: String,
    /// `requested_token_type`, when given.
    pub requested_token_type: Option<String>,
    /// How long a call may take (ms).
    pub timeout_ms: u64,
    /// Longest an issued token is kept (seconds).
    pub cache_max: u64,
    /// Names this exchange's records in shared data: everything that changes what is issued.
    source: String,
}

/// A URI-valued parameter: an absolute URI with a scheme (RFC 3986 §3), no spaces.
fn is_uri(s: &str) -> bool {
    s.split_once(':').is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && !rest.is_empty()
    }) && s.bytes().all(|b| b.is_ascii_graphic())
}

impl Exchange {
    /// Validates `raw`, found at `at`; `default_resource` is the `resources` entry's id. The
    /// secret comes from the configuration or, by name, from `env`.
    pub fn compile(
        at: &str,
        raw: &RawTokenExchange,
        default_resource: Option<&str>,
        env: crate::capabilities::Env,
    ) -> Result<Self, ConfigError> {
        let field = |f: &str| format!("{at}.{f}");
        if raw.cluster.is_empty() {
            return Err(ConfigError::new(
                field("cluster"),
                "must name an Envoy cluster",
            ));
        }
        let timeout_ms = raw.timeout_ms.unwrap_or(1000);
        if !(1..=60_000).contains(&timeout_ms) {
            return Err(ConfigError::new(field("timeout_ms"), "must be 1 to 60000"));
        }
        let (endpoint, discovery) = match (&raw.token_endpoint, &raw.issuer) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    field("issuer"),
                    "cannot stand beside `token_endpoint`: give one",
                ))
            }
            (Some(url), None) => (
                Some(
                    Endpoint::at(url)
                        .map_err(|why| ConfigError::new(field("token_endpoint"), why))?,
                ),
                None,
            ),
            (None, Some(issuer)) => {
                let location = crate::providers::jwt::remote::metadata_location(at, issuer)?;
                let timing = (timeout_ms, DISCOVERY_SECONDS);
                (
                    None,
                    Some(Discovery::new(issuer, &raw.cluster, location, timing)),
                )
            }
            (None, None) => {
                return Err(ConfigError::new(
                    at,
                    "needs `token_endpoint`, or `issuer` to find it in the issuer's metadata",
                ))
            }
        };
        if raw.client_id.is_empty() {
            return Err(ConfigError::new(field("client_id"), "must not be empty"));
        }
        let secret = client_secret::resolve(
            env,
            at,
            raw.client_secret.as_deref(),
            raw.client_secret_env.as_deref(),
        )?
        .ok_or_else(|| {
            ConfigError::new(
                at,
                "needs `client_secret_env` (or `client_secret`) to authenticate to the token endpoint",
            )
        })?;
        let method = client_secret::auth_method(at, raw.auth_method.as_deref())?;
        for (name, value) in [
            ("audience", &raw.audience),
            ("resource", &raw.resource),
            ("subject_token_type", &raw.subject_token_type),
            ("requested_token_type", &raw.requested_token_type),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v.is_empty() || !fields::is_plain_value(v))
            {
                return Err(ConfigError::new(
                    field(name),
                    "must be visible ASCII characters without quotes or backslashes",
                ));
            }
        }
        // RFC 8707 §2: a resource is an absolute URI; the token types are URIs (RFC 8693 §3).
        for (name, value) in [
            ("resource", &raw.resource),
            ("subject_token_type", &raw.subject_token_type),
            ("requested_token_type", &raw.requested_token_type),
        ] {
            if value.as_deref().is_some_and(|v| !is_uri(v)) {
                return Err(ConfigError::new(field(name), "must be an absolute URI"));
            }
        }
        let resource = match (&raw.audience, &raw.resource) {
            (None, None) => match default_resource {
                Some(id) => Some(id.to_string()),
                None => {
                    return Err(ConfigError::new(
                        at,
                        "needs `audience` or `resource`: what the issued token is for",
                    ))
                }
            },
            (_, r) => r.clone(),
        };
        let scope = match &raw.scopes {
            None => None,
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new(
                    field("scopes"),
                    "must not be empty (omit it to let the server choose)",
                ))
            }
            Some(list) => {
                for (j, s) in list.iter().enumerate() {
                    if !fields::is_scope_token(s) {
                        return Err(ConfigError::new(
                            format!("{at}.scopes[{j}]"),
                            "is not a valid scope token",
                        ));
                    }
                }
                Some(list.join(" "))
            }
        };
        let cache_max = raw.cache_max_seconds.unwrap_or(300);
        if cache_max > MAX_CACHE_SECONDS {
            return Err(ConfigError::new(
                field("cache_max_seconds"),
                "must be at most 86400 (a day)",
            ));
        }
        let subject_token_type = raw
            .subject_token_type
            .clone()
            .unwrap_or_else(|| ACCESS_TOKEN.to_string());
        let located = Located::new(endpoint, discovery);
        let name = located.name();
        // Each part length-prefixed: no two configurations name the same records, whatever
        // characters their values hold.
        let source: String = [
            raw.cluster.as_str(),
            name.as_str(),
            raw.client_id.as_str(),
            raw.audience.as_deref().unwrap_or(""),
            resource.as_deref().unwrap_or(""),
            scope.as_deref().unwrap_or(""),
            subject_token_type.as_str(),
            raw.requested_token_type.as_deref().unwrap_or(""),
        ]
        .iter()
        .map(|part| format!("{}:{part}|", part.len()))
        .collect();
        Ok(Exchange {
            at: at.to_string(),
            located,
            cluster: raw.cluster.clone(),
            client: ClientCredentials::new(&raw.client_id, secret, method),
            audience: raw.audience.clone(),
            resource,
            scope,
            subject_token_type,
            requested_token_type: raw.requested_token_type.clone(),
            timeout_ms,
            cache_max,
            source,
        })
    }

    /// The client authgate exchanges tokens as.
    pub fn client_id(&self) -> &str {
        &self.client.client_id
    }

    /// Names this exchange's records in shared data.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What the issued token is for, in words for a refusal's detail and logs.
    pub fn target(&self) -> &str {
        self.audience
            .as_deref()
            .or(self.resource.as_deref())
            .unwrap_or("the upstream")
    }

    /// The token endpoint, once known.
    pub fn endpoint(&self) -> Option<Endpoint> {
        self.located.endpoint()
    }

    /// What logs call the endpoint.
    pub fn label(&self) -> String {
        self.located.label("token_endpoint")
    }

    /// The request headers of a call to `e`.
    pub fn headers<'a>(&'a self, e: &'a Endpoint) -> Vec<(&'a str, &'a str)> {
        self.client.form_post(e)
    }

    /// The form body that exchanges `subject_token` (RFC 8693 §2.1).
    pub fn body(&self, subject_token: &str) -> Vec<u8> {
        let mut body = format!(
            "grant_type={}&subject_token={}&subject_token_type={}",
            form_encode(GRANT_TYPE),
            form_encode(subject_token),
            form_encode(&self.subject_token_type)
        );
        for (name, value) in [
            ("audience", &self.audience),
            ("resource", &self.resource),
            ("scope", &self.scope),
            ("requested_token_type", &self.requested_token_type),
        ] {
            if let Some(v) = value {
                body.push('&');
                body.push_str(name);
                body.push('=');
                body.push_str(&form_encode(v));
            }
        }
        self.client.append_to_form(&mut body);
        body.into_bytes()
    }

    /// How long a request may wait for a token (ms): the call, and with discovery the
    /// metadata first, with room for a retry.
    pub fn wait_ms(&self) -> u64 {
        match self.located.discovery {
            Some(_) => 2 * self.timeout_ms + 1000,
            None => self.timeout_ms,
        }
    }

    /// Until when (seconds) a token issued at `now` with `expires_in` may be used: a margin
    /// before it expires (a tenth of its life, at most 30 s) so the upstream never receives
    /// one that expires on the way, and never past `cache_max_seconds`. A token without
    /// `expires_in` is kept `cache_max_seconds`.
    pub fn until(&self, expires_in: Option<u64>, now: u64) -> u64 {
        let cap = now + self.cache_max;
        match expires_in {
            Some(life) => now.saturating_add(life - (life / 10).min(30)).min(cap),
            None => cap,
        }
    }
}

impl PartialEq for Exchange {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.at == other.at
    }
}
impl Eq for Exchange {}
