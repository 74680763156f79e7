//! Starting a sign-in: a person opened a page without a session, so the browser is sent to
//! the issuer's authorization endpoint (a `302`), and what the callback must match — `state`,
//! `nonce`, the PKCE verifier and where to return — goes with it in a short-lived sealed
//! cookie. Nothing is stored on this side: any Envoy can finish the sign-in.

use super::flow::{random_text, SignIn};
use super::settings::Settings;
use crate::reply::Reply;
use crate::request::Request;
use crate::session::cookies::{self, Attributes};
use crate::session::payload::Pending;
use crate::session::return_address;
use crate::session::seal::NONCE_LEN;

/// How long a sign-in may take, from the redirect to the callback.
pub const PENDING_SECONDS: u64 = 600;

/// The absolute address of `path` on the site `req` was sent to.
pub fn site_url(req: &Request, path: &str) -> Option<String> {
    let scheme = match req.header(":scheme").as_deref() {
        Some("http") => "http",
        _ => "https",
    };
    Some(format!("{scheme}://{}{path}", req.authority()?))
}

/// `n` random bytes from the host, or `None` when it has none to give (fail closed: a
/// predictable `state` would let another site finish a sign-in in this browser).
fn random<const N: usize>(settings: &Settings) -> Option<[u8; N]> {
    let mut b = [0u8; N];
    (settings.random)(&mut b).then_some(b)
}

/// The `302` that sends the browser to sign in at `authorization_endpoint`, coming back to
/// `return_to` (a path on this site). `None` when the host gave no randomness or the request
/// has no usable authority; the caller answers 503 then.
pub fn start(
    settings: &Settings,
    authorization_endpoint: &str,
    req: &Request,
    return_to: &str,
    now: u64,
) -> Option<Reply> {
    let redirect_uri = site_url(req, &settings.redirect_path)?;
    let pending = Pending {
        state: random_text(&random::<32>(settings)?),
        nonce: random_text(&random::<32>(settings)?),
        verifier: random_text(&random::<32>(settings)?),
        return_to: return_address(return_to),
        expires: now + PENDING_SECONDS,
    };
    let location = SignIn {
        endpoint: authorization_endpoint,
        client_id: &settings.client_id,
        redirect_uri: &redirect_uri,
        scope: &settings.scope,
        state: &pending.state,
        nonce: &pending.nonce,
        code_verifier: &pending.verifier,
    }
    .url();
    let sealed = settings.seal(
        &settings.login_cookie(),
        &random::<NONCE_LEN>(settings)?,
        &pending.to_json(),
    )?;
    // Lax whatever the session's SameSite: the callback is a top-level navigation from the
    // issuer's site, and a Strict cookie would not come with it.
    let attrs = Attributes {
        max_age: PENDING_SECONDS,
        same_site: "Lax",
    };
    let mut headers = vec![
        ("location".to_string(), location),
        ("cache-control".to_string(), "no-store".to_string()),
    ];
    headers.extend(super::page::set_cookies(cookies::set(
        &settings.login_cookie(),
        &sealed,
        &attrs,
    )?));
    Some(Reply {
        status: 302,
        headers,
        body: String::new(),
        grpc: None,
    })
}

/// The return address for a request that is sent to sign in: the page itself, or for the
/// login path, the `rd` it names (checked to stay on the site).
pub fn return_to_of(req: &Request, login_path: &str) -> String {
    let pq = req.path_and_query();
    if req.path() != login_path {
        return pq;
    }
    crate::request::query_of(&pq)
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("rd=")))
        .and_then(super::flow::form_decode)
        .map_or_else(|| "/".to_string(), |rd| return_address(&rd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::oidc::tests::{compile_on, compile_with_counter};
    use crate::request::HeaderList;
    use serde_json::json;

    fn header<'a>(r: &'a Reply, name: &str) -> Vec<&'a str> {
        r.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn a_navigation_is_sent_to_the_issuer_with_what_the_callback_needs() {
        let s = compile_with_counter(json!({})).unwrap();
        let view = HeaderList::new(
            "GET",
            "/orders?id=3",
            &[(":authority", "app.example"), (":scheme", "https")],
        );
        let req = Request::new(&view);
        let r = start(
            &s,
            "https://idp.example/authorize",
            &req,
            &return_to_of(&req, &s.login_path),
            1000,
        )
        .unwrap();
        assert_eq!(r.status, 302);
        let location = header(&r, "location")[0];
        assert!(location.starts_with("https://idp.example/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Foauth2%2Fcallback&scope=openid&state="), "{location}");
        let cookie = header(&r, "set-cookie")[0];
        assert!(
            cookie.starts_with("__Host-authgate-login=")
                && cookie.ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=600"),
            "{cookie}"
        );
        let sealed = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
        let opened = s.open(&s.login_cookie(), sealed).unwrap();
        let p = Pending::from_json(&opened, 1000).unwrap();
        assert_eq!(p.return_to, "/orders?id=3");
        assert!(location.contains(&format!("&state={}&nonce={}&", p.state, p.nonce)));
        let challenge = super::super::flow::code_challenge(&p.verifier);
        assert!(location.ends_with(&format!(
            "code_challenge={challenge}&code_challenge_method=S256"
        )));
        assert!(
            p.state != p.nonce && p.nonce != p.verifier,
            "each value drawn apart"
        );
        assert_eq!(
            Pending::from_json(&opened, 1600),
            None,
            "expires after 600 s"
        );
    }

    #[test]
    fn the_login_path_returns_to_its_rd_on_this_site_only() {
        let s = compile_with_counter(json!({})).unwrap();
        for (name, path, want) in [
            ("a page", "/a/b?c=d", "/a/b?c=d"),
            (
                "login with rd",
                "/oauth2/login?rd=%2Freports%3Fy%3D1",
                "/reports?y=1",
            ),
            ("login without rd", "/oauth2/login", "/"),
            (
                "login to elsewhere",
                "/oauth2/login?rd=https%3A%2F%2Fevil.example",
                "/",
            ),
            (
                "login scheme-relative",
                "/oauth2/login?rd=%2F%2Fevil.example",
                "/",
            ),
        ] {
            let view = HeaderList::new("GET", path, &[(":authority", "app.example")]);
            assert_eq!(
                return_to_of(&Request::new(&view), &s.login_path),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn no_randomness_no_sign_in() {
        let s = compile_on(json!({}), Some(std::rc::Rc::new(|_: &mut [u8]| false))).unwrap();
        let view = HeaderList::new("GET", "/", &[(":authority", "app.example")]);
        assert!(start(
            &s,
            "https://idp.example/authorize",
            &Request::new(&view),
            "/",
            1
        )
        .is_none());
    }
}
