//! The browser's side of the authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636,
//! OpenID Connect Core §3.1): which requests are page navigations, the sign-in address, the
//! callback's query, the token request, and the return address that may never leave the site.

use crate::providers::introspection::endpoint::form_encode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The S256 `code_challenge` of `verifier` (RFC 7636 §4.2).
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// 32 random bytes as base64url text: a `state`, `nonce` or `code_verifier` (43 characters,
/// within RFC 7636 §4.1's 43–128).
pub fn random_text(bytes: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether a request is a person opening a page, who can be sent to sign in: `GET` or `HEAD`
/// with `Sec-Fetch-Mode: navigate`, or, from a browser without Fetch Metadata, an `Accept` that
/// prefers HTML. Scripts (`fetch`, XHR) and API clients keep getting a 401 they can read.
pub fn is_navigation(method: &str, fetch_mode: Option<&str>, accept: Option<&str>) -> bool {
    if method != "GET" && method != "HEAD" {
        return false;
    }
    match fetch_mode {
        Some(mode) => mode.eq_ignore_ascii_case("navigate"),
        None => crate::reply::html::prefers_html(accept),
    }
}

/// What the sign-in address carries.
pub struct SignIn<'a> {
    /// The issuer's `authorization_endpoint`.
    pub endpoint: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// This site's callback, absolute.
    pub redirect_uri: &'a str,
    /// Space-separated scopes, `openid` first.
    pub scope: &'a str,
    /// Binds the callback to the browser that started the sign-in.
    pub state: &'a str,
    /// Binds the ID token to it.
    pub nonce: &'a str,
    /// PKCE.
    pub code_verifier: &'a str,
}

impl SignIn<'_> {
    /// The address to send the browser to (OpenID Connect Core §3.1.2.1).
    pub fn url(&self) -> String {
        let sep = if self.endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let params = [
            ("response_type", "code"),
            ("client_id", self.client_id),
            ("redirect_uri", self.redirect_uri),
            ("scope", self.scope),
            ("state", self.state),
            ("nonce", self.nonce),
            ("code_challenge", &code_challenge(self.code_verifier)),
            ("code_challenge_method", "S256"),
        ];
        format!("{}{sep}{}", self.endpoint, form(&params))
    }
}

/// `application/x-www-form-urlencoded` pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// What the authorization server sent back to the callback (RFC 6749 §4.1.2, §4.1.2.1;
/// RFC 9207 `iss`). Each member is read once: a repeated one makes the callback malformed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Callback {
    /// The authorization code.
    pub code: Option<String>,
    /// The `state` the sign-in sent.
    pub state: Option<String>,
    /// The issuer that answered (RFC 9207), when it says.
    pub iss: Option<String>,
    /// An error code instead of a code.
    pub error: Option<String>,
    /// Its description, for the page a person sees.
    pub error_description: Option<String>,
}

impl Callback {
    /// The callback's query (without `?`); `None` when a member repeats or does not decode.
    pub fn parse(query: &str) -> Option<Callback> {
        let mut out = Callback::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = form_decode(v)?;
            let slot = match k {
                "code" => &mut out.code,
                "state" => &mut out.state,
                "iss" => &mut out.iss,
                "error" => &mut out.error,
                "error_description" => &mut out.error_description,
                _ => continue,
            };
            if slot.replace(v).is_some() {
                return None;
            }
        }
        Some(out)
    }
}

/// Decodes one form-encoded value (`+` is a space); `None` for bad escapes or non-UTF-8.
pub fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::return_address;

    #[test]
    fn rfc7636_appendix_b_s256() {
        // RFC 7636 Appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random_text(&[0; 32]).len(), 43);
    }

    #[test]
    fn navigations_are_told_from_scripts() {
        for (name, method, mode, accept, want) in [
            (
                "fetch metadata navigate",
                "GET",
                Some("navigate"),
                None,
                true,
            ),
            ("HEAD navigate", "HEAD", Some("navigate"), Some("*/*"), true),
            (
                "fetch() from a page",
                "GET",
                Some("cors"),
                Some("text/html"),
                false,
            ),
            ("no-cors", "GET", Some("no-cors"), None, false),
            (
                "old browser, HTML first",
                "GET",
                None,
                Some("text/html,application/xhtml+xml,*/*;q=0.8"),
                true,
            ),
            ("curl", "GET", None, Some("*/*"), false),
            ("no accept", "GET", None, None, false),
            (
                "a form post",
                "POST",
                Some("navigate"),
                Some("text/html"),
                false,
            ),
        ] {
            assert_eq!(is_navigation(method, mode, accept), want, "{name}");
        }
    }

    #[test]
    fn sign_in_address_carries_every_parameter() {
        let url = SignIn {
            endpoint: "https://idp.example/authorize?tenant=a",
            client_id: "web app",
            redirect_uri: "https://app.example/oauth2/callback",
            scope: "openid email",
            state: "s",
            nonce: "n",
            code_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        }
        .url();
        assert_eq!(
            url,
            "https://idp.example/authorize?tenant=a&response_type=code&client_id=web%20app\
             &redirect_uri=https%3A%2F%2Fapp.example%2Foauth2%2Fcallback&scope=openid%20email\
             &state=s&nonce=n&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
             &code_challenge_method=S256"
        );
    }

    #[test]
    fn callback_query_is_read_strictly() {
        let c = Callback::parse("code=abc&state=x%2By&iss=https%3A%2F%2Fidp&other=1").unwrap();
        assert_eq!(c.code.as_deref(), Some("abc"));
        assert_eq!(c.state.as_deref(), Some("x+y"));
        assert_eq!(c.iss.as_deref(), Some("https://idp"));
        let e =
            Callback::parse("error=access_denied&error_description=User+said+no&state=s").unwrap();
        assert_eq!(e.error_description.as_deref(), Some("User said no"));
        for (name, q) in [
            ("repeated code", "code=a&code=b"),
            ("bad escape", "code=%zz"),
            ("cut escape", "state=%4"),
            ("not utf-8", "code=%ff"),
        ] {
            assert_eq!(Callback::parse(q), None, "{name}");
        }
    }

    #[test]
    fn return_addresses_stay_on_the_site() {
        for (name, path, want) in [
            ("page", "/orders?id=3", "/orders?id=3"),
            ("root", "/", "/"),
            ("scheme-relative", "//evil.example/x", "/"),
            ("backslash trick", "/\\evil.example", "/"),
            ("absolute", "https://evil.example/", "/"),
            ("empty", "", "/"),
            ("control character", "/a\r\nLocation: x", "/"),
            ("dot then double slash", "/.//evil.example", "/evil.example"),
            (
                "parent then double slash",
                "/x/..//evil.example",
                "/evil.example",
            ),
            ("encoded slash", "/%2F/evil.example", "/"),
            ("encoded backslash", "/%5Cevil.example", "/"),
            ("backslash later", "/a/\\evil.example", "/"),
            ("dots normalised, query kept", "/a/./b?x=1", "/a/b?x=1"),
        ] {
            assert_eq!(return_address(path), want, "{name}");
        }
    }
}
