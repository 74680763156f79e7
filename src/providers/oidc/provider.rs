//! The `oidc` provider: a session cookie is its credential (checked like any other, so rules,
//! `claims` and `identities` apply), and it runs the sign-in itself — the paths it answers,
//! the redirect of a page navigation without a session, the token exchange. ID tokens are
//! checked by an inner `jwt` provider for the issuer, with `aud` = `client_id`.

use super::callback::{self, Exchange};
use super::config::RawOidc;
use super::settings::Settings;
use super::{logout, session_check, signin};
use crate::authorization::Authorization;
use crate::error::ConfigError;
use crate::providers::jwt::remote::{member_url, RemoteJwks};
use crate::providers::jwt::{forward, JwtProvider, RawJwt};
use crate::providers::{Accepted, Found, Need, Provider, Rejection, Setup};
use crate::reply::{Challenge, Reply, Scheme};
use crate::request::Request;
use crate::schema::section;
use serde_json::Value;

/// A compiled `oidc` provider.
pub struct OidcProvider {
    settings: Settings,
    claim_to_headers: Vec<(String, String)>,
    id_tokens: JwtProvider,
}

/// Compiles an `oidc` provider from its configuration object (the registry's entry).
pub fn from_config(setup: &Setup, value: Value) -> Result<Box<dyn Provider>, ConfigError> {
    let raw: RawOidc = section(&setup.field(), value)?;
    Ok(Box::new(OidcProvider::compile(setup, &raw)?))
}

/// What the engine does with a request the sign-in concerns.
#[derive(Debug)]
pub enum Step {
    /// Answer with this (a redirect, a page).
    Reply(Reply),
    /// Wait for this first (the issuer's metadata and keys, the token endpoint's answer).
    Wait(Need),
}

impl OidcProvider {
    /// Checks the section; the ID-token checks are a `jwt` provider's for the same issuer.
    pub fn compile(setup: &Setup, raw: &RawOidc) -> Result<Self, ConfigError> {
        let settings = Settings::compile(setup, raw)?;
        let field = setup.field();
        let claim_to_headers = forward::compile(&field, raw.claim_to_headers.as_deref())?;
        let jwt = RawJwt {
            issuer: Some(raw.issuer.clone()),
            audiences: Some(vec![raw.client_id.clone()]),
            discovery: Some(raw.discovery.clone()),
            clock_skew_seconds: raw.clock_skew_seconds,
            ..RawJwt::default()
        };
        let id_tokens = JwtProvider::compile(setup, &jwt)?;
        Ok(OidcProvider {
            settings,
            claim_to_headers,
            id_tokens,
        })
    }

    fn remote(&self) -> Option<&RemoteJwks> {
        self.id_tokens.remote_jwks()
    }

    /// The issuer's endpoint `member`, once its metadata has been read.
    fn endpoint(&self, member: &str) -> Option<String> {
        let doc = self.remote()?.document()?;
        member_url(&doc, &self.settings.issuer, member).ok()
    }

    /// Its own paths, each with the field that names it.
    pub fn paths(&self) -> [(&'static str, &str); 3] {
        let s = &self.settings;
        [
            ("redirect_path", s.redirect_path.as_str()),
            ("logout_path", s.logout_path.as_str()),
            ("login_path", s.login_path.as_str()),
        ]
    }

    /// The session cookie's name (its chunks add `.1`, `.2`…, the sign-in under way `-login`).
    pub fn cookie(&self) -> &str {
        &self.settings.cookie
    }

    /// Whether `path` is one the sign-in answers itself.
    pub fn answers(&self, path: &str) -> bool {
        let s = &self.settings;
        path == s.redirect_path || path == s.logout_path || path == s.login_path
    }

    /// The answer to one of its own paths.
    pub fn on_path(&self, req: &Request, now: u64) -> Step {
        let s = &self.settings;
        // The form the engine found this path in (`/oauth2//logout` is the logout path).
        let path = req.path();
        if path == s.logout_path {
            return Step::Reply(logout::answer(
                s,
                self.endpoint("end_session_endpoint").as_deref(),
                req,
            ));
        }
        if path == s.login_path {
            let to = signin::return_to_of(req, &s.login_path);
            return self.start(req, &to, now);
        }
        let Some(redirect_uri) = signin::site_url(req, &s.redirect_path) else {
            return Step::Reply(callback::page(
                s,
                400,
                "Sign-in failed",
                "The request names no site.",
            ));
        };
        match callback::begin(s, req, redirect_uri, now) {
            Err(page) => Step::Reply(page),
            Ok(_)
                if self.endpoint("token_endpoint").is_none()
                    || self.remote().and_then(|r| r.keys()).is_none() =>
            {
                Step::Wait(Need::Keys)
            }
            Ok(ex) => Step::Wait(Need::SignIn(Box::new(ex))),
        }
    }

    /// A page navigation without a session: the redirect to sign in.
    pub fn start(&self, req: &Request, return_to: &str, now: u64) -> Step {
        let Some(endpoint) = self.endpoint("authorization_endpoint") else {
            return Step::Wait(Need::Keys);
        };
        match signin::start(&self.settings, &endpoint, req, return_to, now) {
            Some(reply) => Step::Reply(reply),
            None => Step::Reply(callback::page(
                &self.settings,
                503,
                "Sign-in is unavailable",
                "A sign-in could not be started. Try again in a moment.",
            )),
        }
    }

    /// The page a person sees when the sign-in cannot go on (the issuer's metadata or keys
    /// did not come in time, the token endpoint did not answer).
    pub fn unavailable(&self) -> Reply {
        callback::page(
            &self.settings,
            503,
            "Sign-in is unavailable",
            "The sign-in service could not be reached. Try again in a moment.",
        )
    }

    /// The address that starts a sign-in coming back to `req`'s page, for 401 bodies.
    pub fn login_address(&self, req: &Request) -> String {
        let pq = req.path_and_query();
        format!(
            "{}?rd={}",
            self.settings.login_path,
            crate::providers::introspection::endpoint::form_encode(&pq)
        )
    }

    /// The token request for `ex`: the cluster, `:authority`, `:path`, headers and body.
    pub fn token_call(&self, ex: &Exchange) -> Option<TokenCall> {
        let endpoint = self.endpoint("token_endpoint")?;
        let (authority, path) = crate::providers::jwt::remote::split_uri(&endpoint).ok()?;
        let (headers, body) = callback::token_request(&self.settings, ex);
        let d = self.remote()?.discovery.as_ref()?;
        Some(TokenCall {
            cluster: d.cluster.clone(),
            scheme: crate::capabilities::Callout::scheme_of(&endpoint),
            authority,
            path,
            headers,
            body,
            timeout_ms: self.remote()?.timeout_ms,
        })
    }

    /// The sign-in finished from the token endpoint's answer (`status` 0: none).
    pub fn finish(&self, ex: &Exchange, status: u16, body: &[u8], now: u64) -> callback::Finished {
        let verify = |token: &str| {
            self.id_tokens
                .checked_claims(token, now)
                .map(|c| (*c).clone())
                .map_err(|r| match r {
                    Rejection::Refused(d) => format!("the ID token was refused ({})", d.code()),
                    Rejection::Pending(_) => "the issuer's keys are not there yet".to_string(),
                })
        };
        callback::finish(&self.settings, ex, status, body, &verify, now)
    }
}

/// A token request, ready for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCall {
    /// The Envoy cluster that reaches the issuer.
    pub cluster: String,
    /// `http` or `https`, from the token endpoint's URL.
    pub scheme: &'static str,
    /// `:authority`.
    pub authority: String,
    /// `:path`.
    pub path: String,
    /// Other headers.
    pub headers: Vec<(String, String)>,
    /// The form.
    pub body: String,
    /// How long the call may take.
    pub timeout_ms: u64,
}

impl Provider for OidcProvider {
    fn scheme(&self) -> Scheme {
        Scheme::Session
    }

    fn challenge(&self, realm: &str) -> Challenge {
        Challenge::session(realm, &self.settings.login_path)
    }

    fn find(&self, req: &Request, _auth: &Authorization) -> Found {
        session_check::find(&self.settings, req)
    }

    fn reads_authorization(&self, _source: usize) -> bool {
        false
    }

    /// `forward_access_token` sends the session's access token upstream: where a token
    /// exchange applies, that is the caller's token going upstream.
    fn forwards_token(&self) -> bool {
        self.settings.forward_access_token
    }

    fn verify(
        &self,
        value: &str,
        _source: usize,
        req: &Request,
        now: u64,
    ) -> Result<Accepted, Rejection> {
        session_check::verify(&self.settings, &self.claim_to_headers, value, req, now)
    }

    fn headers_read(&self) -> Vec<&str> {
        Vec::new()
    }

    fn headers_set(&self) -> Vec<(&'static str, &str)> {
        self.claim_to_headers
            .iter()
            .map(|(_, h)| ("claim_to_headers", h.as_str()))
            .collect()
    }

    fn warnings(&self) -> Vec<String> {
        self.id_tokens.warnings()
    }

    fn has_claims(&self) -> bool {
        true
    }

    fn has_public_keys(&self) -> bool {
        true
    }

    fn take_signature_checks(&self) -> (u64, u64) {
        self.id_tokens.take_signature_checks()
    }

    fn remote_jwks(&self) -> Option<&RemoteJwks> {
        self.remote()
    }

    fn install_jwks(&self, body: &[u8], fetched_at: u64) -> Result<usize, String> {
        self.id_tokens.install_jwks(body, fetched_at)
    }

    fn sign_in(&self) -> Option<&OidcProvider> {
        Some(self)
    }
}
