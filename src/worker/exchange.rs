//! A pass whose caller's token is to be exchanged (RFC 8693) is final once the issued token is
//! known: it then goes upstream as `Authorization: Bearer`, in place of the caller's. A refusal
//! by the authorization server is a 403 `access_denied` naming what the token was for; a server
//! that cannot answer is a 503 with `Retry-After`. Never a pass with the caller's token.

use super::{Configured, Worker};
use crate::capabilities::Host;
use crate::engine::{Awaited, Decision};
use crate::error::Denial;
use crate::providers::Need;
use crate::request::RequestView;
use crate::shared_state::exchange::{Lookup, BACKOFF_SECONDS};

impl Worker {
    /// `decision` with its token exchange done, refused, or waited for; `expired`: the
    /// request waited long enough, so a call still under way counts as no answer.
    pub(super) fn exchanged(
        &self,
        host: &dyn Host,
        c: &Configured,
        view: &dyn RequestView,
        decision: Decision,
        expired: bool,
    ) -> Decision {
        let Decision::Allow(mut allowed) = decision else {
            return decision;
        };
        let Some(wanted) = allowed.exchange.take() else {
            return Decision::Allow(allowed);
        };
        let engine = &c.engine;
        let (lookup, event) = self
            .exchanges
            .lookup(host, engine, &wanted, self.context.get());
        if let Some(i) = event.and_then(|e| c.counters.catalog().for_exchange(e)) {
            c.counters.add(i, 1);
        }
        let target = wanted.exchange.target();
        match lookup {
            Lookup::Issued(token) => {
                if !allowed.edits.remove.iter().any(|h| h == "authorization") {
                    allowed.edits.remove.push("authorization".into());
                }
                allowed
                    .edits
                    .set
                    .push(("authorization".into(), format!("Bearer {token}")));
                allowed.act = Some(wanted.exchange.client_id().to_string());
                Decision::Allow(allowed)
            }
            Lookup::Refused(error) => {
                let why = format!(
                    "the authorization server did not issue a token for {target} ({error})"
                );
                engine.exchange_failed(view, &allowed, Denial::AccessDenied(why))
            }
            Lookup::Waiting if !expired => {
                let provider = allowed
                    .provider
                    .as_deref()
                    .and_then(|n| engine.config().providers.iter().position(|p| p.name == n))
                    .unwrap_or(0);
                Decision::Wait(Awaited {
                    provider,
                    need: Need::Exchange(wanted.exchange.wait_ms()),
                })
            }
            Lookup::Unavailable | Lookup::Waiting => {
                engine.exchange_failed(view, &allowed, Denial::ExchangeUnavailable(BACKOFF_SECONDS))
            }
        }
    }
}
