//! What a decision looks at, for `authgate explain`: the rule that matches and, for each of
//! its providers, where its credential stands in the request and what the provider concludes.
//! The same calls the decision makes ([`crate::providers::Provider::find`] and `verify`);
//! the filter itself never asks for an explanation.

use super::Engine;
use crate::authorization::Authorization;
use crate::error::Denial;
use crate::providers::{Found, Need, Rejection};
use crate::request::{Request, RequestView};
use crate::rules::Requirement;

/// Where one provider's credential stands, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not in the request.
    NotSent,
    /// Sent more than once or in more than one place.
    SentTwice,
    /// Accepted: who, with which scopes.
    Accepted {
        /// The identity.
        identity: Option<String>,
        /// The scopes held.
        scopes: Vec<String>,
    },
    /// Refused, for this reason.
    Refused(Denial),
    /// Waits for something remote (the CLI fetches nothing).
    Waiting(&'static str),
}

/// What [`Engine::explain`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The rule that matches (`rules[i]`, `default`), or what answers instead.
    pub rule: String,
    /// Each provider of the rule, in its order: (name, scheme, outcome).
    pub credentials: Vec<(String, &'static str, Outcome)>,
}

impl Engine {
    /// Explains the decision on `view` at `now` (seconds).
    pub fn explain(&self, view: &dyn RequestView, now: u64) -> Explanation {
        let req = Request::new(view);
        if self.bad_authority(&req) {
            return Explanation {
                rule: "none: the authority is not one host[:port], refused before any rule".into(),
                credentials: vec![],
            };
        }
        let method = req.method();
        let path = match self.path_to_match(&req, &method) {
            Ok(path) => path,
            Err(why) => {
                return Explanation {
                    rule: format!("none: refused before any rule, {why}"),
                    credentials: vec![],
                }
            }
        };
        let path = path.as_str();
        if self
            .config
            .resources
            .document_at(req.authority().as_deref(), path)
            .is_some()
        {
            return Explanation {
                rule: "the protected resource metadata (RFC 9728), answered by authgate".into(),
                credentials: vec![],
            };
        }
        let rule =
            match self.find_rule(&req, &method, path) {
                super::Matched::Rule(rule) => rule,
                super::Matched::ReadBody => return Explanation {
                    rule:
                        "a rule with match.mcp may apply: it reads the body (give it with --body)"
                            .into(),
                    credentials: vec![],
                },
                super::Matched::BadBody(rule, why) => {
                    return Explanation {
                        rule: format!("{}: the body is refused ({why})", rule.label),
                        credentials: vec![],
                    }
                }
                super::Matched::None => {
                    return Explanation {
                        rule: "none".into(),
                        credentials: vec![],
                    }
                }
            };
        let list: &[usize] = match &rule.requires {
            Requirement::None => &[],
            Requirement::Any(l) | Requirement::All(l) => l,
        };
        let auth_value = req.header("authorization");
        let auth = Authorization::parse(auth_value.as_deref());
        let mut credentials = Vec::new();
        for &i in list {
            let Some(p) = self.config.providers.get(i) else {
                continue;
            };
            let found = p.check.find(&req, &auth);
            let (scheme, outcome) = match found {
                Found::Absent => (p.check.scheme().name(), Outcome::NotSent),
                Found::Conflict => (p.check.scheme().name(), Outcome::SentTwice),
                Found::One(value, source) => {
                    let scheme = p.check.scheme_of(source).name();
                    let outcome = match p.check.verify(&value, source, &req, now) {
                        Ok(a) => Outcome::Accepted {
                            identity: a.identity,
                            scopes: a.scopes,
                        },
                        Err(Rejection::Refused(d)) => Outcome::Refused(d),
                        Err(Rejection::Pending(Need::Keys)) => {
                            Outcome::Waiting("the remote key set (give it with --jwks)")
                        }
                        Err(Rejection::Pending(Need::Introspection(_))) => {
                            Outcome::Waiting("the introspection endpoint's answer")
                        }
                        Err(Rejection::Pending(Need::SignIn(_) | Need::Exchange(_))) => {
                            Outcome::Waiting("the token endpoint's answer")
                        }
                    };
                    (scheme, outcome)
                }
            };
            credentials.push((p.name.clone(), scheme, outcome));
        }
        Explanation {
            rule: rule.label.clone(),
            credentials,
        }
    }
}
