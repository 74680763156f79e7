//! A pass on a rule with `assertion` carries a freshly signed JWT that says who the caller is:
//! `sub` (the identity), `aud` (the request's authority), the provider, the scopes, the claims
//! the configuration lists, and `act` when a token exchange acts for the caller or the
//! credential was itself delegated. Anonymous passes and report mode's would-be refusals carry
//! none; a client's own header of that name is always removed before.

use super::Configured;
use crate::capabilities::Host;
use crate::engine::Decision;
use crate::request::RequestView;
use serde_json::{Map, Value};

/// `decision` with the assertion added, where its rule asks for one.
pub(super) fn asserted(
    host: &dyn Host,
    c: &Configured,
    view: &dyn RequestView,
    decision: Decision,
) -> Decision {
    let config = c.engine.config();
    let Some(a) = &config.assertion else {
        return decision;
    };
    let mut allowed = match decision {
        Decision::Allow(allowed) => allowed,
        other => return other,
    };
    let wanted = config
        .rules
        .iter()
        .any(|r| r.assertion && r.label == allowed.rule);
    let Some(sub) = allowed
        .identity
        .clone()
        .filter(|_| wanted && allowed.would_deny.is_none())
    else {
        return Decision::Allow(allowed);
    };
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::String(sub));
    if let Some(aud) = view.header(":authority") {
        claims.insert("aud".into(), Value::String(aud));
    }
    if let Some(p) = &allowed.provider {
        claims.insert("provider".into(), Value::String(p.clone()));
    }
    if !allowed.scopes.is_empty() {
        claims.insert("scope".into(), Value::String(allowed.scopes.join(" ")));
    }
    let held = allowed.claims.as_deref();
    for name in &a.claims {
        if let Some(v) = held.and_then(|h| h.get(name)) {
            claims.insert(name.clone(), v.clone());
        }
    }
    // RFC 8693 §4.1: the current actor first, the earlier ones nested inside.
    let delegated = held.and_then(|h| h.get("act")).cloned();
    let act = match (&allowed.act, delegated) {
        (Some(client), earlier) => {
            let mut act = Map::new();
            act.insert("sub".into(), Value::String(client.clone()));
            if let Some(e) = earlier {
                act.insert("act".into(), e);
            }
            Some(Value::Object(act))
        }
        (None, earlier) => earlier,
    };
    if let Some(act) = act {
        claims.insert("act".into(), act);
    }
    let jwt = a.sign(claims, host.now_ms() / 1000);
    allowed.edits.set.push((a.header.clone(), jwt));
    Decision::Allow(allowed)
}
