//! Phase two for `token_exchange` on rules and `resources` entries: each section compiled, and
//! refused where there would be no token to exchange or the caller's own token could still
//! reach the upstream beside the issued one.

use super::raw::RawConfig;
use super::NamedProvider;
use crate::error::ConfigError;
use crate::exchange::Exchange;
use crate::resource::set::Resources;
use crate::rules::{Requirement, Rule};
use std::rc::Rc;

/// Compiles every `token_exchange` into the rule or resource it is on.
pub(super) fn compile(
    raw: &RawConfig,
    providers: &[NamedProvider],
    rules: &mut [Rule],
    resources: &mut Resources,
    env: crate::capabilities::Env,
) -> Result<(), ConfigError> {
    let forwarding = |at: &str, list: &mut dyn Iterator<Item = usize>| {
        for i in list {
            let Some(p) = providers.get(i) else { continue };
            if p.check.forwards_token() {
                return Err(ConfigError::new(
                    at,
                    format!(
                        "cannot stand with provider {}'s `forward: true`: the caller's token would go upstream beside the issued one",
                        p.name
                    ),
                ));
            }
        }
        Ok(())
    };
    for (i, r) in raw.rules.iter().flatten().enumerate() {
        let Some(section) = &r.token_exchange else {
            continue;
        };
        let at = format!("rules[{i}].token_exchange");
        let Some(rule) = rules.get_mut(i) else {
            continue;
        };
        let list = match &rule.requires {
            Requirement::None => {
                return Err(ConfigError::new(
                    &at,
                    "a rule that requires `none` has no token to exchange",
                ))
            }
            Requirement::Any(l) | Requirement::All(l) => l.clone(),
        };
        if let Some(p) = list
            .iter()
            .filter_map(|&j| providers.get(j))
            .find(|p| !p.check.has_scopes())
        {
            return Err(ConfigError::new(
                &at,
                format!(
                    "exchanges tokens, and provider {} in `requires` does not check one (`jwt` and `introspection` do)",
                    p.name
                ),
            ));
        }
        forwarding(&at, &mut list.iter().copied())?;
        rule.exchange = Some(Rc::new(Exchange::compile(&at, section, None, env)?));
    }
    let entries: Vec<(String, &crate::resource::RawResource)> =
        match (&raw.resource, &raw.resources) {
            (Some(r), _) => vec![("resource".into(), r)],
            (None, Some(l)) => l
                .iter()
                .enumerate()
                .map(|(j, r)| (format!("resources[{j}]"), r))
                .collect(),
            (None, None) => vec![],
        };
    for (j, (at, r)) in entries.iter().enumerate() {
        let Some(section) = &r.token_exchange else {
            continue;
        };
        let at = format!("{at}.token_exchange");
        forwarding(&at, &mut (0..providers.len()))?;
        let exchange = Exchange::compile(&at, section, Some(&r.id), env)?;
        resources.set_exchange(j, Rc::new(exchange));
    }
    Ok(())
}
