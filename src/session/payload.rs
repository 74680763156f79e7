//! What a sealed cookie holds, as JSON: the session of a signed-in person, or the sign-in
//! under way (the `state`, `nonce` and PKCE verifier the callback must match). Both carry
//! their own expiry, checked on every read, so an old cookie a browser kept is worth nothing.

use serde_json::{Map, Value};

/// A signed-in person.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The ID token's `sub`.
    pub subject: String,
    /// When the session ends (seconds since the epoch).
    pub expires: u64,
    /// The ID token's claims that rules and headers read.
    pub claims: Map<String, Value>,
    /// The access token, when it is forwarded upstream.
    pub access_token: Option<String>,
}

/// A sign-in under way, between the redirect to the issuer and the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Sent as `state`; the callback must bring it back.
    pub state: String,
    /// Sent as `nonce`; the ID token must carry it.
    pub nonce: String,
    /// The PKCE `code_verifier`.
    pub verifier: String,
    /// Where the browser goes once signed in (a path on this site).
    pub return_to: String,
    /// When the sign-in is abandoned (seconds since the epoch).
    pub expires: u64,
}

fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k)?.as_str().map(str::to_string)
}

fn object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

impl Session {
    /// The JSON that is sealed.
    pub fn to_json(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("sub".into(), self.subject.clone().into());
        m.insert("exp".into(), self.expires.into());
        m.insert("claims".into(), Value::Object(self.claims.clone()));
        if let Some(at) = &self.access_token {
            m.insert("at".into(), at.clone().into());
        }
        Value::Object(m).to_string().into_bytes()
    }

    /// A session read from opened JSON, if it is one and has not ended at `now`.
    pub fn from_json(bytes: &[u8], now: u64) -> Option<Session> {
        let m = object(bytes)?;
        let expires = m.get("exp")?.as_u64()?;
        if now >= expires {
            return None;
        }
        Some(Session {
            subject: text(&m, "sub")?,
            expires,
            claims: match m.get("claims")? {
                Value::Object(c) => c.clone(),
                _ => return None,
            },
            access_token: match m.get("at") {
                None => None,
                Some(v) => Some(v.as_str()?.to_string()),
            },
        })
    }
}

impl Pending {
    /// The JSON that is sealed.
    pub fn to_json(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("state".into(), self.state.clone().into());
        m.insert("nonce".into(), self.nonce.clone().into());
        m.insert("cv".into(), self.verifier.clone().into());
        m.insert("to".into(), self.return_to.clone().into());
        m.insert("exp".into(), self.expires.into());
        Value::Object(m).to_string().into_bytes()
    }

    /// A sign-in read from opened JSON, if it is one and has not expired at `now`.
    pub fn from_json(bytes: &[u8], now: u64) -> Option<Pending> {
        let m = object(bytes)?;
        let expires = m.get("exp")?.as_u64()?;
        if now >= expires {
            return None;
        }
        Some(Pending {
            state: text(&m, "state")?,
            nonce: text(&m, "nonce")?,
            verifier: text(&m, "cv")?,
            return_to: super::return_address(&text(&m, "to")?),
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_session_round_trips_until_it_ends() {
        let s = Session {
            subject: "alice".into(),
            expires: 1000,
            claims: json!({"email": "a@example.com", "groups": ["staff"]})
                .as_object()
                .unwrap()
                .clone(),
            access_token: Some("at-1".into()),
        };
        assert_eq!(Session::from_json(&s.to_json(), 999), Some(s.clone()));
        assert_eq!(Session::from_json(&s.to_json(), 1000), None, "ended");
        let no_token = Session {
            access_token: None,
            ..s
        };
        assert_eq!(Session::from_json(&no_token.to_json(), 1), Some(no_token));
    }

    #[test]
    fn a_pending_sign_in_round_trips_until_it_expires() {
        let p = Pending {
            state: "st".into(),
            nonce: "no".into(),
            verifier: "cv".into(),
            return_to: "/orders?x=1".into(),
            expires: 50,
        };
        assert_eq!(Pending::from_json(&p.to_json(), 49), Some(p.clone()));
        assert_eq!(Pending::from_json(&p.to_json(), 50), None);
    }

    #[test]
    fn malformed_contents_read_as_nothing() {
        for (name, body) in [
            ("not json", &b"{"[..]),
            ("an array", b"[]"),
            ("no exp", br#"{"sub":"a","claims":{}}"#),
            ("exp a string", br#"{"sub":"a","exp":"9","claims":{}}"#),
            (
                "claims not an object",
                br#"{"sub":"a","exp":9,"claims":[]}"#,
            ),
            (
                "at not a string",
                br#"{"sub":"a","exp":9,"claims":{},"at":1}"#,
            ),
        ] {
            assert_eq!(Session::from_json(body, 1), None, "{name}");
        }
        let evil = br#"{"state":"s","nonce":"n","cv":"v","to":"//evil.example","exp":9}"#;
        assert_eq!(
            Pending::from_json(evil, 1).unwrap().return_to,
            "/",
            "the return address is checked again"
        );
    }
}
