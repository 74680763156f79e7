//! Signing out: the session's cookies are cleared and the browser goes to the issuer's
//! end-session endpoint (OpenID Connect RP-Initiated Logout 1.0) or to
//! `post_logout_redirect_uri`.
//!
//! Cross-site requests cannot sign anyone out: a request another site made (Fetch Metadata
//! `Sec-Fetch-Site` other than `same-origin` or `none`, or, without it, a `POST` whose
//! `Origin` is not this site, or any `GET`) gets a page with a same-site "Sign out" button
//! instead, so a link or an image elsewhere does nothing.

use super::flow::form;
use super::page::{html, set_cookies};
use super::session_check;
use super::settings::Settings;
use crate::providers::Found;
use crate::reply::html::escape;
use crate::reply::Reply;
use crate::request::Request;
use crate::session::cookies as chunks;

/// Whether `req` comes from this site itself (or from the person, typing the address).
pub fn same_site_request(req: &Request) -> bool {
    match req.header("sec-fetch-site").as_deref() {
        Some(site) => site == "same-origin" || site == "none",
        None => {
            let origin = req.header("origin");
            let here = req.authority();
            req.method() == "POST"
                && matches!((origin, here), (Some(o), Some(h)) if o.split_once("://").is_some_and(|(_, host)| host == h))
        }
    }
}

/// The answer to the logout path.
pub fn answer(settings: &Settings, end_session_endpoint: Option<&str>, req: &Request) -> Reply {
    // Nobody is signed in here (the provider sent the browser back after signing out, say):
    // there is nothing to protect, only a page that says so and offers to sign in again.
    if !has_session_cookie(settings, req) {
        return signed_out(settings);
    }
    if !same_site_request(req) {
        return confirm(settings);
    }
    let target = match (end_session_endpoint, &settings.post_logout_redirect_uri) {
        (Some(end), after) => {
            let mut params = vec![("client_id", settings.client_id.as_str())];
            if let Some(a) = after {
                params.push(("post_logout_redirect_uri", a.as_str()));
            }
            let sep = if end.contains('?') { '&' } else { '?' };
            format!("{end}{sep}{}", form(&params))
        }
        (None, Some(after)) => after.clone(),
        (None, None) => "/".to_string(),
    };
    let mut headers = vec![
        ("cache-control".to_string(), "no-store".to_string()),
        ("location".to_string(), target),
    ];
    for base in [settings.cookie.clone(), settings.login_cookie()] {
        headers.extend(set_cookies(chunks::clear(&base)));
    }
    Reply {
        status: 302,
        headers,
        body: String::new(),
        grpc: None,
    }
}

fn has_session_cookie(settings: &Settings, req: &Request) -> bool {
    session_check::find(settings, req) != Found::Absent
}

fn signed_out(settings: &Settings) -> Reply {
    let body = format!(
        "<h1>You are signed out</h1><p><a href=\"{}\">Sign in</a></p>",
        escape(&settings.login_path)
    );
    html(
        200,
        "Signed out",
        "",
        &body,
        chunks::clear(&settings.login_cookie()),
    )
}

fn confirm(settings: &Settings) -> Reply {
    let body = format!(
        "<h1>Sign out?</h1><form method=\"post\" action=\"{}\"><button type=\"submit\">Sign out</button></form>",
        escape(&settings.logout_path)
    );
    html(200, "Sign out", "", &body, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::oidc::tests::compile_with_counter;
    use crate::request::HeaderList;
    use serde_json::json;

    fn logout(s: &Settings, end: Option<&str>, method: &str, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![
            (":authority", "app.example"),
            ("cookie", "__Host-authgate=x"),
        ];
        all.extend_from_slice(headers);
        let view = HeaderList::new(method, "/oauth2/logout", &all);
        answer(s, end, &Request::new(&view))
    }

    fn location(r: &Reply) -> &str {
        &r.headers.iter().find(|(n, _)| n == "location").unwrap().1
    }

    #[test]
    fn only_this_site_signs_out() {
        let s = compile_with_counter(json!({})).unwrap();
        for (name, method, headers, signs_out) in [
            (
                "a link on this site",
                "GET",
                vec![("sec-fetch-site", "same-origin")],
                true,
            ),
            (
                "typed in the address bar",
                "GET",
                vec![("sec-fetch-site", "none")],
                true,
            ),
            (
                "a link on another site",
                "GET",
                vec![("sec-fetch-site", "cross-site")],
                false,
            ),
            (
                "a sibling subdomain",
                "POST",
                vec![("sec-fetch-site", "same-site")],
                false,
            ),
            (
                "old browser, form on this site",
                "POST",
                vec![("origin", "https://app.example")],
                true,
            ),
            (
                "old browser, form elsewhere",
                "POST",
                vec![("origin", "https://evil.example")],
                false,
            ),
            ("old browser, a GET", "GET", vec![], false),
        ] {
            let r = logout(&s, None, method, &headers);
            assert_eq!(r.status == 302, signs_out, "{name}");
            if !signs_out {
                assert!(
                    r.body
                        .contains(r#"<form method="post" action="/oauth2/logout">"#),
                    "{name}"
                );
                assert!(
                    !r.headers.iter().any(|(n, _)| n == "set-cookie"),
                    "{name}: nothing cleared"
                );
            }
        }
    }

    #[test]
    fn without_a_session_the_page_says_signed_out() {
        let s = compile_with_counter(json!({})).unwrap();
        let view = HeaderList::new(
            "GET",
            "/oauth2/logout",
            &[
                (":authority", "app.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        );
        let r = answer(&s, Some("https://idp.example/end"), &Request::new(&view));
        assert_eq!(r.status, 200);
        assert!(
            r.body.contains("You are signed out")
                && r.body.contains(r#"<a href="/oauth2/login">Sign in</a>"#)
        );
    }

    #[test]
    fn signing_out_clears_every_cookie_and_goes_to_the_issuer() {
        let s =
            compile_with_counter(json!({"post_logout_redirect_uri": "https://app.example/bye"}))
                .unwrap();
        let same = [("sec-fetch-site", "same-origin")];
        let r = logout(&s, Some("https://idp.example/session/end"), "GET", &same);
        assert_eq!(location(&r), "https://idp.example/session/end?client_id=web&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye");
        let cleared: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.split('=').next().unwrap())
            .collect();
        assert!(
            cleared.contains(&"__Host-authgate")
                && cleared.contains(&"__Host-authgate.5")
                && cleared.contains(&"__Host-authgate-login")
        );
        assert_eq!(
            location(&logout(&s, None, "GET", &same)),
            "https://app.example/bye"
        );
        let plain = compile_with_counter(json!({})).unwrap();
        assert_eq!(location(&logout(&plain, None, "GET", &same)), "/");
    }
}
