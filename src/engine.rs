//! The decision: given a request, find the rule, find the credentials the rule accepts,
//! check them, and either allow (with header edits) or deny (with a rendered reply).
//! No host calls here; the adapter supplies headers and applies the outcome.

use crate::authorization::Authorization;
use crate::config::{self, Check, Config};
use crate::error::{ConfigError, Denial};
use crate::providers::api_key::KeySource;
use crate::providers::basic::BasicCache;
use crate::providers::{Found, Verified};
use crate::reply::{self, Reply};
use crate::request::{path_only, Request, RequestView};
use crate::rules::{Requirement, Rule};
use std::cell::RefCell;

/// Entries per generation in the per-worker cache of bcrypt outcomes.
pub const BASIC_CACHE_CAPACITY: usize = 1024;

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let it through after removing `remove` and then setting `set`.
    Allow(Verified),
    /// Answer locally; the request never goes upstream.
    Deny(Box<Denied>),
}

/// A refusal, with what the audit log needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// Why.
    pub denial: Denial,
    /// The rule that decided (`rules[i]` or `default`).
    pub rule: String,
    /// The provider whose check failed, when one did.
    pub provider: Option<String>,
    /// The reply to send.
    pub reply: Reply,
}

/// A configured filter instance: one per Envoy worker.
pub struct Engine {
    config: Config,
    basic_cache: RefCell<BasicCache>,
}

impl Engine {
    /// An engine for a compiled configuration; `secret` keys the credential caches.
    pub fn new(config: Config, secret: [u8; 32]) -> Self {
        Engine {
            config,
            basic_cache: RefCell::new(BasicCache::new(secret, BASIC_CACHE_CAPACITY)),
        }
    }

    /// Parses, validates and compiles the plugin configuration.
    pub fn from_json(json: &[u8], secret: [u8; 32]) -> Result<Self, ConfigError> {
        Ok(Engine::new(config::compile(json)?, secret))
    }

    /// The compiled configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Decides what happens to one request.
    pub fn decide(&self, view: &dyn RequestView) -> Decision {
        let req = Request::new(view);
        let mut edits = Verified {
            set: Vec::new(),
            remove: self.config.identity_headers.clone(),
        };
        let method = req.method();
        if self.config.allow_cors_preflight
            && method == "OPTIONS"
            && req.header("origin").is_some()
            && req.header("access-control-request-method").is_some()
        {
            return Decision::Allow(edits);
        }
        let path_and_query = req.path_and_query();
        let path = path_only(&path_and_query);
        let Some(rule) = self.config.rules.iter().find(|r| r.matches(&method, path)) else {
            // Unreachable: the last rule matches everything. Refuse rather than trust that.
            return self.deny(
                &req,
                self.config.rules.last(),
                Denial::MissingCredentials,
                None,
            );
        };
        match self.check(&req, rule) {
            Ok(Some(verified)) => {
                edits.remove.extend(verified.remove);
                edits.set.extend(verified.set);
                Decision::Allow(edits)
            }
            Ok(None) => Decision::Allow(edits),
            Err((denial, provider)) => self.deny(&req, Some(rule), denial, provider),
        }
    }

    /// `Ok(None)`: allowed with no credential; `Ok(Some)`: authenticated.
    fn check(
        &self,
        req: &Request,
        rule: &Rule,
    ) -> Result<Option<Verified>, (Denial, Option<usize>)> {
        let (list, all) = match &rule.requires {
            Requirement::None => return Ok(None),
            Requirement::Any(l) => (l, false),
            Requirement::All(l) => (l, true),
        };
        let auth_value = req.header("authorization");
        let auth = Authorization::parse(auth_value.as_deref());
        if auth == Authorization::Repeated {
            return Err((
                Denial::InvalidRequest("more than one Authorization header was sent"),
                None,
            ));
        }
        let mut auth_claimed = false;
        let mut found: Vec<(usize, String, usize)> = Vec::with_capacity(list.len());
        for &i in list {
            let f = match &self.config.providers[i].check {
                Check::Basic(_) => match auth.for_scheme("basic") {
                    Some(c) => {
                        auth_claimed = true;
                        Found::One(c.to_string(), 0)
                    }
                    None => Found::Absent,
                },
                Check::ApiKey(k) => {
                    let f = k.find(req);
                    if let Found::One(_, src) = &f {
                        auth_claimed |=
                            k.sources[*src] == KeySource::Header("authorization".into());
                    }
                    f
                }
            };
            match f {
                Found::Absent => {}
                Found::Conflict => {
                    return Err((
                        Denial::InvalidRequest(
                            "the credential was sent more than once or in more than one place",
                        ),
                        Some(i),
                    ))
                }
                Found::One(v, src) => found.push((i, v, src)),
            }
        }
        let unsupported = matches!(auth, Authorization::Credentials { .. }) && !auth_claimed;
        if found.is_empty() || (all && found.len() < list.len()) {
            return if unsupported {
                Err((Denial::UnsupportedScheme, None))
            } else if found.is_empty() && rule.allow_missing {
                Ok(None)
            } else {
                Err((Denial::MissingCredentials, None))
            };
        }
        let mut merged = Verified::default();
        let mut first_error = None;
        for (i, value, src) in found {
            match self.verify(i, &value, src, req) {
                Ok(v) => {
                    merged.set.extend(v.set);
                    merged.remove.extend(v.remove);
                    if !all {
                        return Ok(Some(merged));
                    }
                }
                Err(d) if all => return Err((d, Some(i))),
                Err(d) => {
                    first_error.get_or_insert((d, Some(i)));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(Some(merged)),
        }
    }

    fn verify(&self, i: usize, value: &str, src: usize, req: &Request) -> Result<Verified, Denial> {
        match &self.config.providers[i].check {
            Check::Basic(b) => b.verify(value, &mut self.basic_cache.borrow_mut()),
            Check::ApiKey(k) => k.verify(value, src, req),
        }
    }

    fn deny(
        &self,
        req: &Request,
        rule: Option<&Rule>,
        denial: Denial,
        provider: Option<usize>,
    ) -> Decision {
        let request_id = req.header("x-request-id");
        let challenges = rule.map(|r| r.challenges.as_slice()).unwrap_or(&[]);
        let reply = reply::render(&denial, challenges, request_id.as_deref());
        Decision::Deny(Box::new(Denied {
            denial,
            rule: rule.map_or_else(|| "default".into(), |r| r.label.clone()),
            provider: provider
                .and_then(|i| self.config.providers.get(i))
                .map(|p| p.name.clone()),
            reply,
        }))
    }
}
