//! The callback of a sign-in: the browser comes back from the issuer with a `code` (or an
//! `error`), the sign-in under way is opened from its cookie and must match, the code is
//! redeemed at the token endpoint, the ID token is checked, and the session cookie is set.
//! Every page here says what happened and offers to sign in again.

use super::flow::{form, Callback};
use super::page::{html, set_cookies};
use super::settings::{ClientAuth, Settings};
use crate::providers::introspection::endpoint::{form_encode, AuthMethod};
use crate::reply::html::escape;
use crate::reply::Reply;
use crate::request::{cookie_header, cookies, query_of, Request};
use crate::session::cookies::{self as chunks, Attributes};
use crate::session::payload::{Pending, Session};
use crate::session::seal::NONCE_LEN;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

/// What the token endpoint is asked to redeem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The authorization code.
    pub code: String,
    /// The PKCE verifier the sign-in started with.
    pub verifier: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// Where the browser goes once signed in.
    pub return_to: String,
    /// The `redirect_uri` the sign-in used (RFC 6749 §4.1.3 asks for it again).
    pub redirect_uri: String,
}

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A page for a person: `status`, a title and a sentence, a link to sign in again, and the
/// sign-in under way cleared.
pub fn page(settings: &Settings, status: u16, title: &str, text: &str) -> Reply {
    let body = format!(
        "<h1>{}</h1><p>{}</p><p><a href=\"{}\">Sign in again</a></p>",
        escape(title),
        escape(text),
        escape(&settings.login_path),
    );
    html(
        status,
        title,
        "",
        &body,
        chunks::clear(&settings.login_cookie()),
    )
}

/// Reads the callback `req` at `now`: the code to redeem, or the page that says why not.
pub fn begin(
    settings: &Settings,
    req: &Request,
    redirect_uri: String,
    now: u64,
) -> Result<Exchange, Reply> {
    let pq = req.path_and_query();
    let Some(cb) = Callback::parse(query_of(&pq).unwrap_or("")) else {
        return Err(page(
            settings,
            400,
            "Sign-in failed",
            "The answer from the sign-in service could not be read.",
        ));
    };
    if let Some(error) = &cb.error {
        let (status, title) = match error.as_str() {
            "access_denied" => (403, "Access denied"),
            "login_required"
            | "interaction_required"
            | "consent_required"
            | "account_selection_required" => (401, "Sign-in needed"),
            "temporarily_unavailable" | "server_error" => (503, "Sign-in is unavailable"),
            _ => (400, "Sign-in failed"),
        };
        let said = cb.error_description.as_deref().unwrap_or("");
        let text = format!("The sign-in service answered `{error}`. {said}");
        return Err(page(settings, status, title, text.trim_end()));
    }
    let header = cookie_header(req).unwrap_or_default();
    let pairs: Vec<(&str, &str)> = cookies(&header).collect();
    let pending = chunks::get(&pairs, &settings.login_cookie())
        .and_then(|v| settings.open(&settings.login_cookie(), &v).ok())
        .and_then(|plain| Pending::from_json(&plain, now));
    let expired =
        "This sign-in was not started in this browser, or it took longer than 10 minutes.";
    let Some(pending) = pending else {
        return Err(page(settings, 400, "Sign-in expired", expired));
    };
    // RFC 6749 §10.12: the state binds the answer to the browser that asked.
    if !cb.state.as_deref().is_some_and(|s| same(s, &pending.state)) {
        return Err(page(settings, 400, "Sign-in expired", expired));
    }
    // RFC 9207 §2.4: an answer that names another issuer is a mix-up.
    if cb.iss.as_deref().is_some_and(|iss| iss != settings.issuer) {
        return Err(page(
            settings,
            400,
            "Sign-in failed",
            "The answer came from another sign-in service.",
        ));
    }
    let Some(code) = cb.code else {
        return Err(page(
            settings,
            400,
            "Sign-in failed",
            "The sign-in service sent no code.",
        ));
    };
    Ok(Exchange {
        code,
        verifier: pending.verifier,
        nonce: pending.nonce,
        return_to: pending.return_to,
        redirect_uri,
    })
}

/// The token request for `ex` (RFC 6749 §4.1.3, RFC 7636 §4.5): extra headers and the form.
pub fn token_request(settings: &Settings, ex: &Exchange) -> (Vec<(String, String)>, String) {
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", ex.code.as_str()),
        ("redirect_uri", ex.redirect_uri.as_str()),
        ("code_verifier", ex.verifier.as_str()),
    ];
    let mut headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("accept".to_string(), "application/json".to_string()),
    ];
    match &settings.auth {
        ClientAuth::Secret(AuthMethod::Basic, secret) => {
            // RFC 6749 §2.3.1: id and secret form-encoded before Basic's base64.
            let pair = format!(
                "{}:{}",
                form_encode(&settings.client_id),
                form_encode(&secret.0)
            );
            headers.push((
                "authorization".to_string(),
                format!("Basic {}", STANDARD.encode(pair)),
            ));
        }
        ClientAuth::Secret(AuthMethod::Post, secret) => {
            pairs.push(("client_id", &settings.client_id));
            pairs.push(("client_secret", &secret.0));
        }
        ClientAuth::Public => pairs.push(("client_id", &settings.client_id)),
    }
    (headers, form(&pairs))
}

/// Checks an ID token's signature, `iss`, `aud` and times; its claims, or why not.
pub type VerifyIdToken<'a> = dyn Fn(&str) -> Result<Map<String, Value>, String> + 'a;

/// Claims of a sign-in kept out of the session: they mean nothing after the callback.
const NOT_KEPT: &[&str] = &["nonce", "at_hash", "c_hash", "s_hash", "sid_hash"];

/// Finishes the sign-in from the token endpoint's answer (`status`, `body`): the ID token is
/// checked by `verify` (signature, `iss`, `aud`, times) and here (`nonce`, `azp`), the session
/// is sealed, and the browser goes back to where it was.
/// How a sign-in ended: the reply for the browser, and for the audit line the subject who
/// signed in or why not.
#[derive(Debug)]
pub struct Finished {
    /// What the browser gets.
    pub reply: Reply,
    /// The subject, or the reason (never a token or a secret).
    pub outcome: Result<String, String>,
}

impl Finished {
    fn failed(reply: Reply, why: String) -> Self {
        Finished {
            reply,
            outcome: Err(why),
        }
    }
}

pub fn finish(
    settings: &Settings,
    ex: &Exchange,
    status: u16,
    body: &[u8],
    verify: &VerifyIdToken<'_>,
    now: u64,
) -> Finished {
    let unavailable = || {
        page(
            settings,
            503,
            "Sign-in is unavailable",
            "The sign-in service could not be reached. Try again in a moment.",
        )
    };
    if status >= 500 || status == 0 {
        return Finished::failed(
            unavailable(),
            format!("the token endpoint did not answer (status {status})"),
        );
    }
    let answer: Option<Map<String, Value>> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    };
    let Some(answer) = answer else {
        return Finished::failed(
            unavailable(),
            "the token endpoint's answer is not JSON".into(),
        );
    };
    if status != 200 {
        let error = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("an error");
        let reply = page(
            settings,
            400,
            "Sign-in failed",
            &format!("The sign-in service refused to finish the sign-in (`{error}`)."),
        );
        return Finished::failed(
            reply,
            format!("the token endpoint refused the code ({error})"),
        );
    }
    let failed = |why: &str| {
        let reply = page(
            settings,
            400,
            "Sign-in failed",
            &format!("The sign-in could not be checked: {why}."),
        );
        Finished::failed(reply, why.to_string())
    };
    let Some(id_token) = answer.get("id_token").and_then(Value::as_str) else {
        return failed("the answer has no ID token");
    };
    let mut claims = match verify(id_token) {
        Ok(c) => c,
        Err(why) => return failed(&why),
    };
    // OpenID Connect Core §3.1.3.7 (11): the nonce of this browser's sign-in.
    if !claims
        .get("nonce")
        .and_then(Value::as_str)
        .is_some_and(|n| same(n, &ex.nonce))
    {
        return failed("its nonce is not this sign-in's");
    }
    // §3.1.3.7 (4)-(5): `azp`, when present, is this client; several audiences need it.
    let many = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != settings.client_id => {
            return failed("it was issued to another client (azp)")
        }
        None if many => return failed("it has several audiences and no azp"),
        _ => {}
    }
    let Some(subject) = claims
        .get("sub")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return failed("it has no subject");
    };
    for k in NOT_KEPT {
        claims.remove(*k);
    }
    let access_token = settings
        .forward_access_token
        .then(|| {
            answer
                .get("access_token")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .flatten();
    // A forwarded access token must not outlive its own `expires_in` upstream: the session
    // ends with it, and the person signs in again (no refresh token is asked for).
    let lifetime = match (
        &access_token,
        answer.get("expires_in").and_then(Value::as_u64),
    ) {
        (Some(_), Some(expires_in)) => settings.max_age.min(expires_in.max(1)),
        _ => settings.max_age,
    };
    let who = subject.clone();
    let session = Session {
        subject,
        expires: now + lifetime,
        claims,
        access_token,
    };
    let mut nonce = [0u8; NONCE_LEN];
    if !(settings.random)(&mut nonce) {
        return Finished::failed(unavailable(), "the host gave no randomness".into());
    }
    let attrs = Attributes {
        max_age: lifetime,
        same_site: settings.same_site,
    };
    let lines = settings
        .seal(&settings.cookie, &nonce, &session.to_json())
        .and_then(|sealed| chunks::set(&settings.cookie, &sealed, &attrs));
    let Some(lines) = lines else {
        return failed("the session is larger than the cookies a browser keeps");
    };
    let mut cookies = lines;
    cookies.extend(chunks::clear(&settings.login_cookie()));
    if settings.same_site == "Strict" {
        // A browser judges a Strict cookie by the page that started the navigation: after a
        // 302 from here that is still the issuer's page, so the session would not come with
        // the next request. A page that moves on by itself starts a same-site navigation.
        let to = escape(&ex.return_to);
        let head = format!("<meta http-equiv=\"refresh\" content=\"0;url={to}\">");
        let body = format!("<p>Signed in. <a href=\"{to}\">Continue</a></p>");
        let reply = html(200, "Signed in", &head, &body, cookies);
        return Finished {
            reply,
            outcome: Ok(who),
        };
    }
    let mut headers = vec![("cache-control".to_string(), "no-store".to_string())];
    headers.extend(set_cookies(cookies));
    headers.push(("location".to_string(), ex.return_to.clone()));
    let reply = Reply {
        status: 302,
        headers,
        body: String::new(),
        grpc: None,
    };
    Finished {
        reply,
        outcome: Ok(who),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::oidc::signin;
    use crate::providers::oidc::tests::compile_with_counter;
    use crate::request::HeaderList;
    use serde_json::json;

    const URI: &str = "https://app.example/oauth2/callback";

    /// A sign-in started at `now`: its pending cookie (as a `Cookie` header) and its values.
    fn started(s: &Settings, now: u64) -> (String, Pending) {
        let view = HeaderList::new("GET", "/orders", &[(":authority", "app.example")]);
        let r = signin::start(
            s,
            "https://idp.example/authorize",
            &Request::new(&view),
            "/orders",
            now,
        )
        .unwrap();
        let line = r
            .headers
            .iter()
            .find(|(n, _)| n == "set-cookie")
            .unwrap()
            .1
            .clone();
        let pair = line.split(';').next().unwrap().to_string();
        let sealed = pair.split_once('=').unwrap().1;
        let p = Pending::from_json(&s.open(&s.login_cookie(), sealed).unwrap(), now).unwrap();
        (pair, p)
    }

    fn callback(s: &Settings, query: &str, cookie: &str, now: u64) -> Result<Exchange, Reply> {
        let path = format!("/oauth2/callback?{query}");
        let view = HeaderList::new(
            "GET",
            &path,
            &[(":authority", "app.example"), ("cookie", cookie)],
        );
        begin(s, &Request::new(&view), URI.into(), now)
    }

    #[test]
    fn the_callback_must_match_the_sign_in_of_this_browser() {
        let s = compile_with_counter(json!({})).unwrap();
        let (cookie, p) = started(&s, 1000);
        let ok = callback(
            &s,
            &format!("code=c1&state={}&iss=https%3A%2F%2Fidp.example", p.state),
            &cookie,
            1001,
        )
        .unwrap();
        assert_eq!(
            (ok.code.as_str(), ok.return_to.as_str(), ok.nonce.as_str()),
            ("c1", "/orders", p.nonce.as_str())
        );
        for (name, query, cookie, now, status) in [
            (
                "wrong state",
                "code=c1&state=forged".to_string(),
                cookie.clone(),
                1001,
                400,
            ),
            ("no state", "code=c1".to_string(), cookie.clone(), 1001, 400),
            (
                "no pending cookie",
                format!("code=c1&state={}", p.state),
                String::new(),
                1001,
                400,
            ),
            (
                "too late",
                format!("code=c1&state={}", p.state),
                cookie.clone(),
                1601,
                400,
            ),
            (
                "another issuer",
                format!("code=c1&state={}&iss=https%3A%2F%2Fevil", p.state),
                cookie.clone(),
                1001,
                400,
            ),
            (
                "no code",
                format!("state={}", p.state),
                cookie.clone(),
                1001,
                400,
            ),
            (
                "refused",
                "error=access_denied&error_description=No+thanks".to_string(),
                cookie.clone(),
                1001,
                403,
            ),
            (
                "must log in",
                "error=login_required".to_string(),
                cookie.clone(),
                1001,
                401,
            ),
            (
                "server trouble",
                "error=temporarily_unavailable".to_string(),
                cookie.clone(),
                1001,
                503,
            ),
            (
                "repeated code",
                format!("code=a&code=b&state={}", p.state),
                cookie.clone(),
                1001,
                400,
            ),
        ] {
            let page = callback(&s, &query, &cookie, now).unwrap_err();
            assert_eq!(page.status, status, "{name}");
            assert!(page.body.contains("Sign in again"), "{name}");
            assert!(
                page.headers
                    .iter()
                    .any(|(n, v)| n == "set-cookie" && v.starts_with("__Host-authgate-login=;")),
                "{name}: pending cleared"
            );
        }
        let refused = callback(
            &s,
            "error=access_denied&error_description=%3Cscript%3E",
            &cookie,
            1001,
        )
        .unwrap_err();
        assert!(
            refused.body.contains("&lt;script&gt;") && !refused.body.contains("<script>"),
            "escaped"
        );
    }

    #[test]
    fn the_token_request_authenticates_as_configured() {
        let ex = Exchange {
            code: "c&1".into(),
            verifier: "v".into(),
            nonce: "n".into(),
            return_to: "/".into(),
            redirect_uri: URI.into(),
        };
        let basic = compile_with_counter(json!({})).unwrap();
        let (h, body) = token_request(&basic, &ex);
        assert_eq!(body, "grant_type=authorization_code&code=c%261&redirect_uri=https%3A%2F%2Fapp.example%2Foauth2%2Fcallback&code_verifier=v");
        assert!(h.contains(&(
            "authorization".into(),
            format!("Basic {}", STANDARD.encode("web:s3cret"))
        )));
        let post = compile_with_counter(json!({"auth_method": "client_secret_post"})).unwrap();
        let (h, body) = token_request(&post, &ex);
        assert!(
            body.ends_with("&client_id=web&client_secret=s3cret")
                && !h.iter().any(|(n, _)| n == "authorization")
        );
        let public =
            compile_with_counter(json!({"auth_method": "none", "client_secret_env": null}))
                .unwrap();
        assert!(token_request(&public, &ex)
            .1
            .ends_with("&code_verifier=v&client_id=web"));
    }

    fn id_claims(extra: Value) -> Map<String, Value> {
        let mut c = json!({"iss": "https://idp.example", "aud": "web", "sub": "alice", "nonce": "n-1", "email": "a@example.com", "at_hash": "x"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c.as_object().unwrap().clone()
    }

    #[test]
    fn a_checked_id_token_becomes_a_session_and_the_browser_goes_back() {
        let s = compile_with_counter(json!({"forward_access_token": true})).unwrap();
        let ex = Exchange {
            code: "c".into(),
            verifier: "v".into(),
            nonce: "n-1".into(),
            return_to: "/orders".into(),
            redirect_uri: URI.into(),
        };
        let body =
            json!({"id_token": "ID", "access_token": "AT", "token_type": "Bearer"}).to_string();
        let verify = |t: &str| {
            if t == "ID" {
                Ok(id_claims(json!({})))
            } else {
                Err("bad".to_string())
            }
        };
        let r = finish(&s, &ex, 200, body.as_bytes(), &verify, 5000).reply;
        assert_eq!(r.status, 302);
        assert!(r.headers.contains(&("location".into(), "/orders".into())));
        let line = &r
            .headers
            .iter()
            .find(|(n, v)| n == "set-cookie" && v.starts_with("__Host-authgate="))
            .unwrap()
            .1;
        assert!(
            line.ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=28800"),
            "{line}"
        );
        let sealed = line.split(';').next().unwrap().split_once('=').unwrap().1;
        let session = Session::from_json(&s.open(&s.cookie, sealed).unwrap(), 5001).unwrap();
        assert_eq!(
            (
                session.subject.as_str(),
                session.expires,
                session.access_token.as_deref()
            ),
            ("alice", 5000 + 28800, Some("AT"))
        );
        assert!(
            session.claims.contains_key("email")
                && !session.claims.contains_key("nonce")
                && !session.claims.contains_key("at_hash")
        );
        assert!(r
            .headers
            .iter()
            .any(|(n, v)| n == "set-cookie" && v.starts_with("__Host-authgate-login=;")));
        for (name, status, body, claims, want) in [
            (
                "nonce of another sign-in",
                200,
                json!({"id_token": "ID"}),
                id_claims(json!({"nonce": "n-2"})),
                400,
            ),
            (
                "no nonce",
                200,
                json!({"id_token": "ID"}),
                {
                    let mut c = id_claims(json!({}));
                    c.remove("nonce");
                    c
                },
                400,
            ),
            (
                "another client's azp",
                200,
                json!({"id_token": "ID"}),
                id_claims(json!({"azp": "other"})),
                400,
            ),
            (
                "two audiences, no azp",
                200,
                json!({"id_token": "ID"}),
                id_claims(json!({"aud": ["web", "api"]})),
                400,
            ),
            (
                "no id_token",
                200,
                json!({"access_token": "AT"}),
                id_claims(json!({})),
                400,
            ),
            (
                "code refused",
                400,
                json!({"error": "invalid_grant"}),
                id_claims(json!({})),
                400,
            ),
            (
                "token endpoint down",
                503,
                json!({}),
                id_claims(json!({})),
                503,
            ),
        ] {
            let verify = move |_: &str| Ok(claims.clone());
            let r = finish(&s, &ex, status, body.to_string().as_bytes(), &verify, 5000).reply;
            assert_eq!(r.status, want, "{name}");
            assert!(
                !r.headers.iter().any(|(n, v)| n == "set-cookie"
                    && v.starts_with("__Host-authgate=")
                    && !v.contains("Max-Age=0")),
                "{name}: no session"
            );
        }
        let short = json!({"id_token": "ID", "access_token": "AT", "expires_in": 300}).to_string();
        let r = finish(&s, &ex, 200, short.as_bytes(), &verify, 5000).reply;
        assert!(
            r.headers.iter().any(|(n, v)| n == "set-cookie"
                && v.starts_with("__Host-authgate=")
                && v.ends_with("Max-Age=300")),
            "a forwarded access token's expires_in ends the session"
        );
        let strict = compile_with_counter(json!({"cookie": {"same_site": "Strict"}})).unwrap();
        let page = finish(&strict, &ex, 200, body.as_bytes(), &verify, 5000).reply;
        assert_eq!(page.status, 200, "Strict: a page that moves on, not a 302");
        assert!(
            page.body
                .contains(r#"<meta http-equiv="refresh" content="0;url=/orders">"#),
            "{}",
            page.body
        );
        assert!(page
            .headers
            .iter()
            .any(|(n, v)| n == "set-cookie" && v.contains("SameSite=Strict")));
        let bad_sig = finish(&s, &ex, 200, br#"{"id_token":"forged"}"#, &verify, 5000).reply;
        assert_eq!(bad_sig.status, 400);
        assert_eq!(
            finish(&s, &ex, 200, b"<html>", &verify, 5000).reply.status,
            503,
            "not JSON: the service is not working"
        );
    }
}
