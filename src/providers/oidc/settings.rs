//! The `oidc` section checked and compiled: every refusal names its field, and what cannot
//! work (no secret for a confidential client, cookie keys too short or missing, paths that
//! collide) is refused at load rather than discovered by the first person signing in.

use super::config::RawOidc;
use crate::error::ConfigError;
use crate::providers::client_secret;
use crate::providers::introspection::endpoint::{AuthMethod, Secret};
use crate::providers::Setup;
use crate::schema::fields;
use crate::session::seal::{OpenError, Sealer, MIN_SECRET_LEN, NONCE_LEN};

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// A confidential client (RFC 6749 §2.3.1).
    Secret(AuthMethod, Secret),
    /// A public client: `client_id` in the body, PKCE only (`none`).
    Public,
}

/// A compiled `oidc` section.
pub struct Settings {
    /// The issuer identifier.
    pub issuer: String,
    /// This client.
    pub client_id: String,
    /// How it authenticates.
    pub auth: ClientAuth,
    /// Space-separated, `openid` first.
    pub scope: String,
    /// The callback path.
    pub redirect_path: String,
    /// The sign-out path.
    pub logout_path: String,
    /// The path that starts a sign-in.
    pub login_path: String,
    /// Where the browser goes after signing out.
    pub post_logout_redirect_uri: Option<String>,
    /// The session cookie's name; the sign-in under way uses `<name>-login`.
    pub cookie: String,
    /// Session lifetime, seconds.
    pub max_age: u64,
    /// `Lax` or `Strict`.
    pub same_site: &'static str,
    /// Seals and opens the cookies; reached through [`Settings::seal`] and [`Settings::open`],
    /// which bind every value to this provider.
    sealer: Sealer,
    /// Send the session's access token upstream.
    pub forward_access_token: bool,
    /// Leeway for the ID token's times.
    pub clock_skew: u64,
    /// The host's randomness, for `state`, `nonce`, verifiers and cookie nonces.
    pub random: crate::capabilities::Random,
}

const DEFAULT_COOKIE: &str = "__Host-authgate";
const MAX_SESSION_SECONDS: u64 = 30 * 86_400;

impl Settings {
    /// Checks `raw` (the section of provider `setup.name`).
    pub fn compile(setup: &Setup, raw: &RawOidc) -> Result<Settings, ConfigError> {
        let field = setup.field();
        let at = |f: &str| format!("{field}.{f}");
        let random = setup.random.clone().ok_or_else(|| {
            ConfigError::new(
                &field,
                "sign-in needs the host's randomness (WASI random_get) for `state` and `nonce`, and this host has none",
            )
        })?;
        if !(raw.issuer.starts_with("https://") || raw.issuer.starts_with("http://"))
            || raw.issuer.contains(['?', '#', ' '])
            || raw.issuer.contains(char::is_control)
        {
            return Err(ConfigError::new(
                at("issuer"),
                "must be the issuer's http(s) URL, without query or fragment",
            ));
        }
        if raw.client_id.is_empty() || raw.client_id.contains(char::is_control) {
            return Err(ConfigError::new(
                at("client_id"),
                "must not be empty nor hold control characters",
            ));
        }
        let secret = client_secret::resolve(
            setup.env,
            &field,
            raw.client_secret.as_deref(),
            raw.client_secret_env.as_deref(),
        )?;
        let auth = match (raw.auth_method.as_deref(), secret) {
            (Some("none"), None) => ClientAuth::Public,
            (Some("none"), Some(_)) => {
                return Err(ConfigError::new(
                    at("auth_method"),
                    "`none` is a public client: remove the client secret, or choose client_secret_basic or client_secret_post",
                ))
            }
            (None | Some("client_secret_basic"), Some(s)) => ClientAuth::Secret(AuthMethod::Basic, Secret(s)),
            (Some("client_secret_post"), Some(s)) => ClientAuth::Secret(AuthMethod::Post, Secret(s)),
            (None | Some("client_secret_basic" | "client_secret_post"), None) => {
                return Err(ConfigError::new(
                    &field,
                    "a confidential client needs `client_secret_env` (or `client_secret`); a public client says `auth_method: none`",
                ))
            }
            (Some(_), _) => {
                return Err(ConfigError::new(
                    at("auth_method"),
                    "must be `client_secret_basic`, `client_secret_post` or `none`",
                ))
            }
        };
        let scope = scope(&at("scopes"), raw.scopes.as_deref())?;
        let redirect_path = path(
            &at("redirect_path"),
            raw.redirect_path.as_deref(),
            "/oauth2/callback",
        )?;
        let logout_path = path(
            &at("logout_path"),
            raw.logout_path.as_deref(),
            "/oauth2/logout",
        )?;
        if redirect_path == logout_path {
            return Err(ConfigError::new(
                at("logout_path"),
                "must differ from `redirect_path`",
            ));
        }
        let login_path = path(
            &at("login_path"),
            raw.login_path.as_deref(),
            "/oauth2/login",
        )?;
        if login_path == redirect_path || login_path == logout_path {
            return Err(ConfigError::new(
                at("login_path"),
                "must differ from `redirect_path` and `logout_path`",
            ));
        }
        if let Some(u) = &raw.post_logout_redirect_uri {
            if !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/'))
                || !fields::is_plain_value(u)
            {
                return Err(ConfigError::new(
                    at("post_logout_redirect_uri"),
                    "must be an http(s) URL or a path on this site",
                ));
            }
        }
        let cookie = raw.cookie.as_ref();
        let name = cookie
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| DEFAULT_COOKIE.into());
        if !fields::is_token(&name) || name.len() > 64 {
            return Err(ConfigError::new(
                at("cookie.name"),
                "must be a cookie name (a token of at most 64 characters)",
            ));
        }
        let max_age = cookie.and_then(|c| c.max_age_seconds).unwrap_or(28_800);
        if !(60..=MAX_SESSION_SECONDS).contains(&max_age) {
            return Err(ConfigError::new(
                at("cookie.max_age_seconds"),
                "must be 60 to 2592000 (30 days)",
            ));
        }
        let same_site = match cookie.and_then(|c| c.same_site.as_deref()) {
            None | Some("Lax") => "Lax",
            Some("Strict") => "Strict",
            Some(_) => {
                return Err(ConfigError::new(
                    at("cookie.same_site"),
                    "must be `Lax` or `Strict`",
                ))
            }
        };
        let sealer = sealer(setup, &at("cookie_secrets_env"), &raw.cookie_secrets_env)?;
        let clock_skew = raw.clock_skew_seconds.unwrap_or(60);
        if clock_skew > 300 {
            return Err(ConfigError::new(
                at("clock_skew_seconds"),
                "must be at most 300",
            ));
        }
        Ok(Settings {
            issuer: raw.issuer.clone(),
            client_id: raw.client_id.clone(),
            auth,
            scope,
            redirect_path,
            logout_path,
            login_path,
            post_logout_redirect_uri: raw.post_logout_redirect_uri.clone(),
            cookie: name,
            max_age,
            same_site,
            sealer,
            forward_access_token: raw.forward_access_token.unwrap_or(false),
            clock_skew,
            random,
        })
    }

    /// The name of the cookie that holds a sign-in under way.
    pub fn login_cookie(&self) -> String {
        format!("{}-login", self.cookie)
    }

    /// `plaintext` sealed for `cookie` of this provider: the cookie name, the issuer and the
    /// client are the seal's associated data, so a value made by one sign-in provider opens
    /// under no other, whatever secrets and cookie names they share.
    pub fn seal(&self, cookie: &str, nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Option<String> {
        self.sealer.seal(&self.bound(cookie), nonce, plaintext)
    }

    /// The plaintext of `value`, sealed by this provider for `cookie`.
    pub fn open(&self, cookie: &str, value: &str) -> Result<Vec<u8>, OpenError> {
        self.sealer.open(&self.bound(cookie), value)
    }

    /// What a value is sealed for. Newlines cannot occur in any of the three (cookie names are
    /// tokens, the issuer and client are checked), so no two providers share one.
    fn bound(&self, cookie: &str) -> String {
        format!("{cookie}\n{}\n{}", self.issuer, self.client_id)
    }
}

fn scope(at: &str, scopes: Option<&[String]>) -> Result<String, ConfigError> {
    let mut out: Vec<&str> = vec!["openid"];
    for (i, s) in scopes.unwrap_or_default().iter().enumerate() {
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        {
            return Err(ConfigError::new(
                format!("{at}[{i}]"),
                "must be a scope token (RFC 6749 §3.3)",
            ));
        }
        if !out.contains(&s.as_str()) {
            out.push(s);
        }
    }
    Ok(out.join(" "))
}

fn path(at: &str, value: Option<&str>, default: &str) -> Result<String, ConfigError> {
    let p = value.unwrap_or(default);
    // Requests are matched in their normal form (crate::path).
    let normal = crate::path::normal(p).is_ok_and(|n| n.path == p);
    if !p.starts_with('/')
        || !normal
        || p.starts_with("//")
        || p.len() < 2
        || !p
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
    {
        return Err(ConfigError::new(
            at,
            "must be a path on this site in normal form, like /oauth2/callback (no query, no `//`, `.` or `%`-escapes of letters)",
        ));
    }
    Ok(p.to_string())
}

/// The cookie keys from VM environment variable `name`: base64 (standard or URL-safe, with or
/// without padding) secrets of at least 32 bytes, separated by spaces or commas.
fn sealer(setup: &Setup, at: &str, name: &str) -> Result<Sealer, ConfigError> {
    let secrets = client_secret::key_list(setup.env, at, (name, "key", MIN_SECRET_LEN))?;
    Sealer::new(&secrets).ok_or_else(|| ConfigError::new(at, format!("`{name}` holds no key")))
}
