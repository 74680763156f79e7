//! The schemes authgate advertises and their `WWW-Authenticate` challenges (RFC 9110
//! §11.6.1), built once at configure time: `Bearer` (RFC 6750 §3), `Basic` (RFC 7617 §2),
//! `ApiKey`, `DPoP` (RFC 9449 §7.1).

/// The authentication schemes a rule can advertise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RFC 6750 bearer tokens (the `jwt` provider).
    Bearer,
    /// RFC 7617 Basic.
    Basic,
    /// API keys (no registered scheme; `ApiKey` names where the key goes).
    ApiKey,
    /// RFC 9449 DPoP-bound tokens.
    DPoP,
    /// A person's session from signing in (no registered scheme; `Session` names where to
    /// sign in).
    Session,
}

/// One challenge, precomputed at configure time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Which scheme it is.
    pub scheme: Scheme,
    /// The challenge without error attributes, e.g. `Basic realm="api", charset="UTF-8"`.
    pub base: String,
    /// How a person sends this credential, for the body's `accepted` list.
    pub how: String,
}

impl Scheme {
    /// The scheme's name as it appears in challenges.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::Basic => "Basic",
            Scheme::ApiKey => "ApiKey",
            Scheme::DPoP => "DPoP",
            Scheme::Session => "Session",
        }
    }

    /// Whether credentials of this scheme are access tokens (RFC 6750, RFC 9449), whose
    /// challenges carry `error`, `error_description` and `scope` (RFC 6750 §3, RFC 9449 §7.1).
    pub fn is_token(self) -> bool {
        matches!(self, Scheme::Bearer | Scheme::DPoP)
    }
}

impl Challenge {
    /// `Basic realm="<realm>", charset="UTF-8"` (RFC 7617 §2.1).
    pub fn basic(realm: &str) -> Self {
        Challenge {
            scheme: Scheme::Basic,
            base: format!("Basic realm=\"{realm}\", charset=\"UTF-8\""),
            how: "Authorization: Basic <base64 of user:password>".into(),
        }
    }

    /// `Bearer realm="<realm>"` (RFC 6750 §3).
    pub fn bearer(realm: &str) -> Self {
        Challenge {
            scheme: Scheme::Bearer,
            base: format!("Bearer realm=\"{realm}\""),
            how: "Authorization: Bearer <token>".into(),
        }
    }

    /// `DPoP algs="<algs>", realm="<realm>"` (RFC 9449 §7.1: `algs` names the proof
    /// algorithms accepted).
    pub fn dpop(realm: &str, algs: &str) -> Self {
        Challenge {
            scheme: Scheme::DPoP,
            base: format!("DPoP algs=\"{algs}\", realm=\"{realm}\""),
            how: "Authorization: DPoP <token> with DPoP: <proof> (RFC 9449)".into(),
        }
    }

    /// `Session realm="<realm>", login="<login path>"`: sign in at the login path (a browser
    /// opening a page is sent there by itself).
    pub fn session(realm: &str, login_path: &str) -> Self {
        Challenge {
            scheme: Scheme::Session,
            base: format!("Session realm=\"{realm}\", login=\"{login_path}\""),
            how: format!("sign in at {login_path} (a session cookie)"),
        }
    }

    /// `ApiKey realm="<realm>", in="<header|query|cookie>", name="<name>"`.
    pub fn api_key(realm: &str, place: &str, name: &str) -> Self {
        let how = match place {
            "query" => format!("?{name}=<key>"),
            "cookie" => format!("Cookie: {name}=<key>"),
            _ => format!("{name}: <key>"),
        };
        Challenge {
            scheme: Scheme::ApiKey,
            base: format!("ApiKey realm=\"{realm}\", in=\"{place}\", name=\"{name}\""),
            how,
        }
    }
}
