//! The `jwt` provider: finds a token, verifies its signature with a key chosen by `kid` that
//! agrees with the token's `alg`, checks the claims, and derives the headers for upstream.
//! One concept per file: [`alg`], [`jwks`], [`es384`], [`verifier`], [`token`], [`claims`],
//! [`extractor`], [`forward`], [`remote`], [`cache`].

pub mod alg;
pub mod cache;
pub mod claims;
pub mod es384;
pub mod extractor;
pub mod forward;
pub mod jwks;
pub mod remote;
#[cfg(test)]
pub(crate) mod rfc_vectors;
#[cfg(test)]
mod tests;
pub mod token;
pub mod verifier;

use self::cache::{TokenCache, Verdict};
use self::claims::ClaimRules;
use self::extractor::{Prefix, TokenSource};
use self::jwks::{Jwk, KeySet};
use self::remote::RemoteJwks;
use super::{locate, Verified};
use crate::config::fields;
use crate::config::raw::RawJwt;
use crate::error::{ConfigError, Denial};
use crate::json;
use crate::request::Request;
use serde_json::Value;
use std::rc::Rc;

/// Most keys tried for a token without `kid`.
const MAX_CANDIDATES: usize = 8;

/// Why a token was not accepted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtFail {
    /// Refused.
    Deny(Denial),
    /// The remote key set has not arrived yet: hold the request.
    KeysPending,
}

impl From<Denial> for JwtFail {
    fn from(d: Denial) -> Self {
        JwtFail::Deny(d)
    }
}

/// A compiled `jwt` provider.
#[derive(Debug)]
pub struct JwtProvider {
    domain: Vec<u8>,
    /// Where tokens are read, in order.
    pub sources: Vec<TokenSource>,
    rules: ClaimRules,
    forward: bool,
    /// Header that receives the payload upstream.
    pub forward_payload_header: Option<String>,
    /// `(claim path, header)` pairs.
    pub claim_to_headers: Vec<(String, String)>,
    local: Vec<Jwk>,
    /// The remote key set, when configured.
    pub remote: Option<RemoteJwks>,
}

impl JwtProvider {
    /// Validates a raw `jwt` provider named `name`.
    pub fn compile(name: &str, raw: &RawJwt) -> Result<Self, ConfigError> {
        let field = format!("providers.{name}");
        let local = match &raw.local_jwks {
            None => vec![],
            Some(v) => {
                let parsed;
                let v = match v {
                    Value::String(s) => {
                        parsed = json::parse_strict(s.as_bytes()).map_err(|e| {
                            ConfigError::new(
                                format!("{field}.local_jwks"),
                                format!("not JSON: {e}"),
                            )
                        })?;
                        &parsed
                    }
                    other => other,
                };
                jwks::parse(v, true)
                    .map_err(|e| ConfigError::new(format!("{field}.local_jwks"), e))?
                    .keys
            }
        };
        let remote = match &raw.remote_jwks {
            None => None,
            Some(r) => Some(RemoteJwks::compile(
                &format!("{field}.remote_jwks"),
                &r.uri,
                &r.cluster,
                r.timeout_ms,
                r.cache_duration_seconds,
                r.min_refetch_interval_seconds,
            )?),
        };
        if local.is_empty() && remote.is_none() {
            return Err(ConfigError::new(
                field,
                "needs `local_jwks` or `remote_jwks`",
            ));
        }
        let mut sources = Vec::new();
        for (i, h) in raw.from_headers.iter().flatten().enumerate() {
            let name = fields::header_to_read(&format!("{field}.from_headers[{i}].name"), &h.name)?;
            let prefix = match h.value_prefix.as_deref() {
                None | Some("") => Prefix::None,
                Some(p) if p.trim().eq_ignore_ascii_case("bearer") => Prefix::Bearer,
                Some(p) => Prefix::Literal(p.to_string()),
            };
            sources.push(TokenSource::Header(name, prefix));
        }
        for (i, p) in raw.from_params.iter().flatten().enumerate() {
            if !fields::is_token(p) {
                return Err(ConfigError::new(
                    format!("{field}.from_params[{i}]"),
                    "must be a parameter name",
                ));
            }
            sources.push(TokenSource::Param(p.clone()));
        }
        for (i, c) in raw.from_cookies.iter().flatten().enumerate() {
            if !fields::is_token(c) {
                return Err(ConfigError::new(
                    format!("{field}.from_cookies[{i}]"),
                    "must be a cookie name",
                ));
            }
            sources.push(TokenSource::Cookie(c.clone()));
        }
        if sources.is_empty() {
            // Envoy's default: `Authorization: Bearer <token>`; when any source is given,
            // only those are read.
            sources.push(TokenSource::Header("authorization".into(), Prefix::Bearer));
        }
        let forward_payload_header = match &raw.forward_payload_header {
            Some(h) => Some(fields::header_to_set(
                &format!("{field}.forward_payload_header"),
                h,
            )?),
            None => None,
        };
        let mut claim_to_headers = Vec::new();
        for (i, c) in raw.claim_to_headers.iter().flatten().enumerate() {
            if c.claim_name.is_empty() {
                return Err(ConfigError::new(
                    format!("{field}.claim_to_headers[{i}].claim_name"),
                    "must not be empty",
                ));
            }
            let h = fields::header_to_set(
                &format!("{field}.claim_to_headers[{i}].header_name"),
                &c.header_name,
            )?;
            claim_to_headers.push((c.claim_name.clone(), h));
        }
        let audiences = raw.audiences.clone().unwrap_or_default();
        if raw.audiences.is_some() && audiences.is_empty() {
            return Err(ConfigError::new(
                format!("{field}.audiences"),
                "must not be empty (omit it to accept any audience)",
            ));
        }
        Ok(JwtProvider {
            domain: format!("jwt/{name}").into_bytes(),
            sources,
            rules: ClaimRules {
                issuer: raw.issuer.clone(),
                audiences,
                clock_skew: raw.clock_skew_seconds.unwrap_or(60),
                max_lifetime: raw.max_lifetime_seconds,
                require_expiration: raw.require_expiration.unwrap_or(false),
            },
            forward: raw.forward.unwrap_or(false),
            forward_payload_header,
            claim_to_headers,
            local,
            remote,
        })
    }

    /// The configured issuer.
    pub fn issuer(&self) -> Option<&str> {
        self.rules.issuer.as_deref()
    }

    /// Headers this provider sets upstream.
    pub fn identity_headers(&self) -> impl Iterator<Item = &String> {
        self.forward_payload_header
            .iter()
            .chain(self.claim_to_headers.iter().map(|(_, h)| h))
    }

    /// Verifies `token` (found in source `source`) at `now`.
    pub fn verify(
        &self,
        token: &str,
        source: usize,
        req: &Request,
        now: u64,
        cache: &mut TokenCache,
    ) -> Result<(Rc<Verdict>, Verified), JwtFail> {
        let verdict = self.verdict(token, now, cache)?;
        let mut v = Verified {
            set: verdict.set.clone(),
            remove: vec![],
            identity: verdict.subject.clone(),
        };
        if !self.forward {
            self.hide(source, req, &mut v);
        }
        Ok((verdict, v))
    }

    fn verdict(
        &self,
        token: &str,
        now: u64,
        cache: &mut TokenCache,
    ) -> Result<Rc<Verdict>, JwtFail> {
        if token.len() > token::MAX_TOKEN_LEN {
            return Err(Denial::InvalidCredentials("token too large").into());
        }
        let key = cache.key(&self.domain, token);
        if let Some(v) = cache.get(&key) {
            if let Err(d) = self.rules.check_time(v.exp, v.nbf, now) {
                cache.remove(&key);
                return Err(d.into());
            }
            return Ok(v);
        }
        let t = token::parse(token).map_err(Denial::InvalidCredentials)?;
        // The issuer first: with several providers on a route, the token's `iss` picks the
        // one that spends time on its signature. Time next, as Envoy's jwt_authn does: an
        // expired token is refused without a signature check, so replaying old tokens is
        // cheap to answer. (Either way the answer is a 401; only its wording can differ for
        // a forged expired token.)
        self.rules.check_issuer(&t.claims)?;
        self.rules.check_time(t.claims.exp, t.claims.nbf, now)?;
        let remote = self.remote.as_ref().map(|r| (r, r.keys()));
        let remote_keys: &[Jwk] = match &remote {
            Some((_, Some(set))) => &set.keys,
            _ => &[],
        };
        let mut by_kid = 0usize;
        let mut tried = 0usize;
        let mut verified_with = None;
        for k in self.local.iter().chain(remote_keys) {
            if let Some(kid) = &t.kid {
                if k.kid.as_deref() != Some(kid.as_str()) {
                    continue;
                }
                by_kid += 1;
            }
            if !k.accepts(t.alg) || tried >= MAX_CANDIDATES {
                continue;
            }
            tried += 1;
            if verifier::verify(t.alg, &k.material, t.signing_input.as_bytes(), &t.signature) {
                verified_with = Some(k.fingerprint);
                break;
            }
        }
        let Some(fingerprint) = verified_with else {
            if let Some((r, set)) = &remote {
                if set.is_none() {
                    return Err(JwtFail::KeysPending);
                }
                if t.kid.is_some() && by_kid == 0 {
                    r.want_refresh();
                }
            }
            return Err(Denial::InvalidCredentials(match (&t.kid, by_kid, tried) {
                (Some(_), 0, _) => "unknown key id",
                (_, _, 0) => "no key for the token's algorithm",
                _ => "invalid signature",
            })
            .into());
        };
        self.rules.check_static(&t.claims, now)?;
        let verdict = Rc::new(Verdict {
            exp: t.claims.exp,
            nbf: t.claims.nbf,
            key: fingerprint,
            scopes: t.claims.scopes.clone(),
            subject: t
                .claims
                .all
                .get("sub")
                .and_then(|s| s.as_str())
                .map(str::to_string),
            set: self.headers_for(&t),
        });
        cache.insert(key, verdict.clone());
        Ok(verdict)
    }

    fn headers_for(&self, t: &token::Token) -> Vec<(String, String)> {
        let mut set = Vec::new();
        if let Some(h) = &self.forward_payload_header {
            set.push((h.clone(), t.payload_b64.to_string()));
        }
        for (claim, header) in &self.claim_to_headers {
            if let Some(value) = forward::lookup(&t.claims.all, claim).and_then(forward::render) {
                set.push((header.clone(), value));
            }
        }
        set
    }

    fn hide(&self, source: usize, req: &Request, v: &mut Verified) {
        match &self.sources[source] {
            TokenSource::Header(h, _) => v.remove.push(h.clone()),
            TokenSource::Param(p) => v.set.push((
                ":path".into(),
                locate::without_query_param(&req.path_and_query(), p),
            )),
            TokenSource::Cookie(c) => {
                match locate::without_cookie(&req.header("cookie").unwrap_or_default(), c) {
                    Some(rest) => v.set.push(("cookie".into(), rest)),
                    None => v.remove.push("cookie".into()),
                }
            }
        }
    }

    /// Installs a fetched remote key set; returns (old, new) key fingerprints.
    pub fn install_remote(&self, set: KeySet, fetched_at: u64) -> Option<(Vec<u64>, Vec<u64>)> {
        let r = self.remote.as_ref()?;
        let old = r
            .keys()
            .map(|s| s.keys.iter().map(|k| k.fingerprint).collect())
            .unwrap_or_default();
        let new = r.install(set, fetched_at);
        Some((old, new))
    }
}
