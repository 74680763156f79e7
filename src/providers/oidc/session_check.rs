//! A request's session: the sealed cookie found, opened and read, and what it gives the
//! request (the person's identity and claims for rules, headers for upstream). A cookie that
//! does not open — tampered, sealed with a retired key, for another cookie — or that has ended
//! counts as no session at all: the person signs in again.

use super::settings::Settings;
use crate::error::Denial;
use crate::providers::jwt::forward;
use crate::providers::{Accepted, Found, HeaderEdits, Rejection};
use crate::request::{cookie_header, cookies, cookies_except, Request};
use crate::session::{cookies as chunks, payload::Session};
use std::rc::Rc;

/// Where the session stands in a request: its sealed text when the cookie is there once.
pub fn find(settings: &Settings, req: &Request) -> Found {
    let Some(header) = cookie_header(req) else {
        return Found::Absent;
    };
    let pairs: Vec<(&str, &str)> = cookies(&header).collect();
    if !pairs.iter().any(|(n, _)| *n == settings.cookie) {
        return Found::Absent;
    }
    match chunks::get(&pairs, &settings.cookie) {
        Some(v) => Found::One(v, 0),
        None => Found::Conflict,
    }
}

/// The session sealed in `value`, judged at `now` (seconds).
pub fn open(settings: &Settings, value: &str, now: u64) -> Option<Session> {
    let plain = settings.open(&settings.cookie, value).ok()?;
    Session::from_json(&plain, now)
}

/// What a request with `session` carries upstream: `claim_to_headers`, and the access token
/// as `Authorization: Bearer` when it is forwarded. The session cookies themselves never go
/// upstream.
pub fn accept(
    settings: &Settings,
    claim_to_headers: &[(String, String)],
    session: Session,
    req: &Request,
) -> Accepted {
    let mut edits = HeaderEdits {
        set: forward::headers(&session.claims, claim_to_headers),
        remove: Vec::new(),
    };
    if let Some(cookie) = without_session_cookies(settings, req) {
        edits.set.push(("cookie".into(), cookie));
    } else {
        edits.remove.push("cookie".into());
    }
    if settings.forward_access_token {
        if let Some(at) = &session.access_token {
            edits
                .set
                .push(("authorization".into(), format!("Bearer {at}")));
        }
    }
    let mut claims = session.claims;
    claims.insert("sub".into(), session.subject.clone().into());
    Accepted {
        edits,
        identity: Some(session.subject),
        scopes: Vec::new(),
        claims: Some(Rc::new(claims)),
        proof: None,
    }
}

/// The request's `Cookie` header without authgate's cookies; `None` when nothing else is left.
fn without_session_cookies(settings: &Settings, req: &Request) -> Option<String> {
    let ours = |n: &str| {
        n == settings.cookie
            || n.strip_prefix(settings.cookie.as_str())
                .is_some_and(|rest| {
                    rest == "-login"
                        || rest
                            .strip_prefix('.')
                            .is_some_and(|i| i.bytes().all(|b| b.is_ascii_digit()))
                })
    };
    cookies_except(&cookie_header(req)?, ours)
}

/// A session check: accepted, or no session.
pub fn verify(
    settings: &Settings,
    claim_to_headers: &[(String, String)],
    value: &str,
    req: &Request,
    now: u64,
) -> Result<Accepted, Rejection> {
    match open(settings, value, now) {
        Some(session) => Ok(accept(settings, claim_to_headers, session, req)),
        None => Err(Rejection::Refused(Denial::MissingCredentials)),
    }
}
