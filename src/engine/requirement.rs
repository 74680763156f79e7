//! A rule's requirement: find the credentials the rule accepts, arbitrate the `Authorization`
//! header between providers, check them under `any` or `all`, and say which failure wins.

use super::Engine;
use crate::authorization::Authorization;
use crate::conditions;
use crate::config::NamedProvider;
use crate::error::Denial;
use crate::providers::{Accepted, Found, Need, Rejection};
use crate::request::Request;
use crate::rules::{Requirement, Rule};

/// Why a rule's requirement is not met.
pub(super) enum Unmet {
    /// Refused.
    Refused(Failure),
    /// Provider (index) waits for something remote; the request may yet pass.
    Pending(usize, Need),
}

/// A refusal and what the audit log says about it.
pub(super) struct Failure {
    /// Why.
    pub denial: Denial,
    /// The provider whose check failed, when one did.
    pub provider: Option<usize>,
    /// Fingerprint of the credential that failed.
    pub fingerprint: Option<String>,
    /// The scheme the failed credential was sent with, when the provider takes several.
    pub scheme: Option<crate::reply::Scheme>,
    /// The body is a JSON-RPC error for an MCP client, the problem inside it.
    pub jsonrpc: Option<Box<crate::reply::JsonRpcError>>,
}

impl Failure {
    /// A refusal no provider is to blame for.
    pub fn of(denial: Denial) -> Self {
        Failure {
            denial,
            provider: None,
            fingerprint: None,
            scheme: None,
            jsonrpc: None,
        }
    }

    fn by(denial: Denial, provider: usize) -> Self {
        Failure {
            provider: Some(provider),
            ..Failure::of(denial)
        }
    }

    /// A refusal of a credential that authenticated (scope, conditions): its provider and
    /// the scheme it came with, so that only that scheme's challenge names the error.
    fn of_accepted(denial: Denial, provider: usize, scheme: crate::reply::Scheme) -> Self {
        Failure {
            scheme: Some(scheme),
            ..Failure::by(denial, provider)
        }
    }
}

/// A credential that met the requirement.
pub(super) struct Authenticated {
    /// What it asks of the request.
    pub accepted: Accepted,
    /// The provider that accepted it (the first, under `all`).
    pub provider: usize,
}

/// A credential the rule accepts, found in the request.
struct Presented {
    provider: usize,
    value: String,
    source: usize,
}

/// `Ok(None)`: allowed with no credential; `Ok(Some)`: authenticated.
pub(super) fn check(
    engine: &Engine,
    req: &Request,
    rule: &Rule,
    now: u64,
) -> Result<Option<Authenticated>, Unmet> {
    let (list, all) = match &rule.requires {
        Requirement::None => return Ok(None),
        Requirement::Any(l) => (l, false),
        Requirement::All(l) => (l, true),
    };
    let providers = &engine.config().providers;
    let auth_value = req.header("authorization");
    let auth = Authorization::parse(auth_value.as_deref());
    if auth == Authorization::Repeated {
        return Err(Unmet::Refused(Failure::of(Denial::InvalidRequest(
            "more than one Authorization header was sent",
        ))));
    }
    let presented = find(providers, req, &auth, list)?;
    if presented.is_empty() || (all && presented.len() < list.len()) {
        let claimed = presented
            .iter()
            .any(|p| providers[p.provider].check.reads_authorization(p.source));
        if let Authorization::Credentials { scheme, rest } = auth {
            // `Bearer` with nothing after it (an empty shell variable) is not a foreign scheme.
            let empty = rest.is_empty().then(|| {
                list.iter().find_map(|&i| {
                    providers[i]
                        .check
                        .authorization_scheme()
                        .filter(|s| s.eq_ignore_ascii_case(scheme))
                })
            });
            if let Some(Some(name)) = empty {
                return Err(Unmet::Refused(Failure::of(Denial::EmptyCredentials(name))));
            }
            // An `Authorization` scheme no provider of the rule claimed is named as such.
            if !claimed {
                return Err(Unmet::Refused(Failure::of(Denial::UnsupportedScheme)));
            }
        }
        if presented.is_empty() && rule.allow_missing {
            return Ok(None);
        }
        return Err(Unmet::Refused(Failure::of(Denial::MissingCredentials)));
    }
    let mut merged: Option<Authenticated> = None;
    let mut scopes_held: Vec<String> = Vec::new();
    let mut every: Vec<Accepted> = Vec::new();
    let mut worst: Option<Unmet> = None;
    // Under `all`: the first token credential that authenticated, which a 403 for the
    // scopes they hold together is about.
    let mut token: Option<(usize, crate::reply::Scheme)> = None;
    for p in presented {
        let check = &providers[p.provider].check;
        let outcome = check
            .verify(&p.value, p.source, req, now)
            .and_then(|a| for_this_resource(engine, req, check.audience_from_resources(), a));
        let scheme = check.scheme_of(p.source);
        let unmet = match outcome {
            Ok(accepted) if !all => {
                if !has_scopes(engine, &accepted.scopes, &rule.scopes) {
                    Unmet::Refused(Failure::of_accepted(scope_denial(rule), p.provider, scheme))
                } else if let Err(why) = access(rule, &[&accepted]) {
                    let denial = Denial::AccessDenied(why);
                    Unmet::Refused(Failure::of_accepted(denial, p.provider, scheme))
                } else {
                    return Ok(Some(Authenticated {
                        accepted,
                        provider: p.provider,
                    }));
                }
            }
            Ok(accepted) => {
                if scheme.is_token() && token.is_none() {
                    token = Some((p.provider, scheme));
                }
                scopes_held.extend(accepted.scopes.iter().cloned());
                every.push(accepted.clone());
                match &mut merged {
                    Some(m) => {
                        m.accepted.edits.extend(accepted.edits);
                        m.accepted.identity = m.accepted.identity.take().or(accepted.identity);
                        // Two DPoP providers of one `all` rule checked the same proof.
                        m.accepted.proof = m.accepted.proof.take().or(accepted.proof);
                    }
                    None => {
                        merged = Some(Authenticated {
                            accepted,
                            provider: p.provider,
                        })
                    }
                }
                continue;
            }
            Err(Rejection::Refused(d)) => Unmet::Refused(Failure {
                fingerprint: Some(engine.fingerprint(&p.value)),
                scheme: Some(scheme),
                ..Failure::by(d, p.provider)
            }),
            Err(Rejection::Pending(need)) => Unmet::Pending(p.provider, need),
        };
        if all {
            return Err(unmet);
        }
        worst = Some(match worst {
            Some(current) if !outranks(&unmet, &current) => current,
            _ => unmet,
        });
    }
    if let Some(unmet) = worst {
        return Err(unmet);
    }
    if !has_scopes(engine, &scopes_held, &rule.scopes) {
        return Err(Unmet::Refused(match token {
            Some((provider, scheme)) => Failure::of_accepted(scope_denial(rule), provider, scheme),
            None => Failure::of(scope_denial(rule)),
        }));
    }
    if let Err(why) = access(rule, &every.iter().collect::<Vec<_>>()) {
        return Err(Unmet::Refused(Failure::of(Denial::AccessDenied(why))));
    }
    Ok(merged)
}

/// A rule's `identities` and `claims` conditions against the credentials that authenticated:
/// an identity must be listed, and each condition must hold on one of them. `Err` names the
/// first that fails.
fn access(rule: &Rule, accepted: &[&Accepted]) -> Result<(), String> {
    if rule.conditions.is_empty() && rule.identities.is_empty() {
        return Ok(());
    }
    let credentials: Vec<conditions::Credential> = accepted
        .iter()
        .map(|a| (a.identity.as_deref(), a.claims.as_deref()))
        .collect();
    conditions::permits(&rule.conditions, &rule.identities, &credentials)
}

/// Which failure an `any` rule reports when no credential passes: a provider still waiting
/// for its keys may yet accept, so waiting wins; then a credential that authenticated but is
/// short of scope (403 says more than 401); otherwise the first failure in the rule's order.
fn outranks(new: &Unmet, current: &Unmet) -> bool {
    fn rank(u: &Unmet) -> u8 {
        match u {
            Unmet::Pending(..) => 2,
            Unmet::Refused(f)
                if matches!(
                    f.denial,
                    Denial::InsufficientScope(_) | Denial::AccessDenied(_)
                ) =>
            {
                1
            }
            Unmet::Refused(_) => 0,
        }
    }
    rank(new) > rank(current)
}

/// The credentials of the rule's providers that the request carries, in the rule's order.
/// A credential sent twice or in two places is refused here.
fn find(
    providers: &[NamedProvider],
    req: &Request,
    auth: &Authorization,
    list: &[usize],
) -> Result<Vec<Presented>, Unmet> {
    let mut presented = Vec::with_capacity(list.len());
    for &i in list {
        match providers[i].check.find(req, auth) {
            Found::Absent => {}
            Found::Conflict => {
                return Err(Unmet::Refused(Failure::by(
                    Denial::InvalidRequest(
                        "the credential was sent more than once or in more than one place",
                    ),
                    i,
                )))
            }
            Found::One(value, source) => presented.push(Presented {
                provider: i,
                value,
                source,
            }),
        }
    }
    Ok(presented)
}

fn scope_denial(rule: &Rule) -> Denial {
    Denial::InsufficientScope(rule.scopes.join(" "))
}

fn has_scopes(engine: &Engine, held: &[String], required: &[String]) -> bool {
    engine
        .config()
        .scope_hierarchy
        .satisfies_all(held, required)
}

/// With several protected resources, a provider that takes its audiences from them accepted a
/// token for any one of them; it must be for the one the request is under (RFC 8707 §2; MCP:
/// a token for one server is refused by another). With one, the provider checked it already.
fn for_this_resource(
    engine: &Engine,
    req: &Request,
    from_resources: bool,
    accepted: Accepted,
) -> Result<Accepted, Rejection> {
    let resources = &engine.config().resources;
    if !from_resources || resources.iter().nth(1).is_none() {
        return Ok(accepted);
    }
    let resource = resources.audience_of(req.authority().as_deref(), &req.path());
    let aud = accepted.claims.as_ref().and_then(|c| c.get("aud"));
    let for_it = resource.is_some_and(|r| match aud {
        Some(serde_json::Value::String(a)) => *a == r.id,
        Some(serde_json::Value::Array(l)) => l.iter().any(|a| a.as_str() == Some(r.id.as_str())),
        _ => false,
    });
    if for_it {
        Ok(accepted)
    } else {
        Err(Rejection::Refused(Denial::InvalidCredentials(
            "the token is not for this resource (audience)",
        )))
    }
}
