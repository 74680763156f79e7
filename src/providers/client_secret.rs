//! A client secret given in the configuration (`client_secret`) or by name from the Wasm VM's
//! environment (`client_secret_env`), read the same way by everything that authenticates to an
//! authorization server (introspection, sign-in, token exchange), and how it is sent
//! ([`ClientCredentials`], RFC 6749 §2.3.1).

pub use crate::capabilities::secrets::key_list;
use crate::capabilities::secrets::value_of;
use crate::error::ConfigError;
use crate::providers::introspection::endpoint::form_encode;
use base64::Engine as _;

/// How authgate authenticates to the token service (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Basic` with the form-encoded id and secret.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// A secret whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `auth_method` of section `field`: `client_secret_basic` (the default) or
/// `client_secret_post`.
pub fn auth_method(field: &str, raw: Option<&str>) -> Result<AuthMethod, ConfigError> {
    match raw {
        None | Some("client_secret_basic") => Ok(AuthMethod::Basic),
        Some("client_secret_post") => Ok(AuthMethod::Post),
        Some(_) => Err(ConfigError::new(
            format!("{field}.auth_method"),
            "must be `client_secret_basic` or `client_secret_post`",
        )),
    }
}

/// A confidential client's id and secret, and how they are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// How the client authenticates.
    pub method: AuthMethod,
    secret: Secret,
    /// `Basic …` for [`AuthMethod::Basic`], built once.
    basic: Option<Secret>,
}

impl ClientCredentials {
    /// Client `client_id` with `secret`, sent by `method`.
    pub fn new(client_id: &str, secret: String, method: AuthMethod) -> Self {
        let basic = (method == AuthMethod::Basic).then(|| {
            // RFC 6749 §2.3.1: id and secret form-encoded before Basic's base64.
            let pair = format!("{}:{}", form_encode(client_id), form_encode(&secret));
            Secret(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        });
        ClientCredentials {
            client_id: client_id.to_string(),
            method,
            secret: Secret(secret),
            basic,
        }
    }

    /// The `Authorization` header's value, with [`AuthMethod::Basic`].
    pub fn authorization(&self) -> Option<&str> {
        self.basic.as_ref().map(|b| b.0.as_str())
    }

    /// The headers of a form POST to `e` by this client: the call of introspection and of
    /// token exchange.
    pub fn form_post<'a>(
        &'a self,
        e: &'a crate::providers::introspection::endpoint::Endpoint,
    ) -> Vec<(&'a str, &'a str)> {
        let mut h = vec![
            (":method", "POST"),
            (":path", e.path.as_str()),
            (":authority", e.authority.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
        ];
        if let Some(a) = self.authorization() {
            h.push(("authorization", a));
        }
        h
    }

    /// Appends `&client_id=…&client_secret=…` to a form body, with [`AuthMethod::Post`].
    pub fn append_to_form(&self, body: &mut String) {
        if self.method == AuthMethod::Post {
            body.push_str("&client_id=");
            body.push_str(&form_encode(&self.client_id));
            body.push_str("&client_secret=");
            body.push_str(&form_encode(&self.secret.0));
        }
    }
}

/// The secret of provider section `field`: `Ok(None)` when neither field is given (whether
/// that is allowed is the provider's call), an error naming the field when both are, one is
/// empty, or the environment has no such variable.
pub fn resolve(
    vm_env: crate::capabilities::Env,
    field: &str,
    secret: Option<&str>,
    env: Option<&str>,
) -> Result<Option<String>, ConfigError> {
    let at = |f: &str| format!("{field}.{f}");
    match (secret, env) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            at("client_secret_env"),
            "cannot stand beside `client_secret`: give the secret one way",
        )),
        (None, None) => Ok(None),
        (Some(""), None) => Err(ConfigError::new(at("client_secret"), "must not be empty")),
        (Some(s), None) => Ok(Some(s.to_string())),
        (None, Some(name)) => value_of(vm_env, &at("client_secret_env"), name).map(Some),
    }
}
