//! From a failure to what the client gets: the rendered reply (status, challenges, body), or
//! in report mode a pass that carries what enforcing would have answered.

use super::requirement::Failure;
use super::{Allowed, Decision, Engine, Refusal};
use crate::config::Mode;
use crate::error::Denial;
use crate::reply::{self, ReplyContext};
use crate::request::{Request, RequestView};
use crate::rules::{Requirement, Rule};

impl Engine {
    /// A refusal under `rule`; in report mode, a pass that carries what would have been
    /// refused.
    pub(super) fn refuse(
        &self,
        req: &Request,
        rule: Option<&Rule>,
        failure: Failure,
        allowed: Allowed,
    ) -> Decision {
        let label = rule.map_or_else(|| "default".into(), |r| r.label.clone());
        self.refuse_as(req, rule, failure, label, allowed)
    }

    fn refuse_as(
        &self,
        req: &Request,
        rule: Option<&Rule>,
        failure: Failure,
        label: String,
        mut allowed: Allowed,
    ) -> Decision {
        let request_id = req.header("x-request-id");
        let scope_hint = match rule {
            Some(r) if !self.config.resources.is_empty() && !r.scopes.is_empty() => {
                Some(r.scopes.join(" "))
            }
            _ => None,
        };
        let accept = req.header("accept");
        let provider = failure.provider.and_then(|i| self.config.providers.get(i));
        // Only a request inside the resource is pointed at its document (RFC 9728 §3.3).
        let resource_metadata = self
            .config
            .resources
            .under(req.authority().as_deref(), &req.path());
        // A route a sign-in provider serves: where a person (or a script, for them) signs in.
        let login = rule
            .and_then(|r| self.sign_in_of(r))
            .map(|(_, o)| o.login_address(req));
        let ctx = ReplyContext {
            login: login.as_deref(),
            challenges: rule.map(|r| r.challenges.as_slice()).unwrap_or(&[]),
            needs_all: rule.is_some_and(|r| matches!(r.requires, Requirement::All(_))),
            failed: failure.scheme.or(provider.map(|p| p.check.scheme())),
            scope_hint: scope_hint.as_deref(),
            resource_metadata: resource_metadata.map(|r| r.metadata_url.as_str()),
            request_id: request_id.as_deref(),
            html: reply::prefers_html(accept.as_deref()),
            grpc: reply::is_grpc(req.header("content-type").as_deref()),
            settings: &self.config.response,
            jsonrpc: failure.jsonrpc.as_deref(),
        };
        let denied = Box::new(Refusal {
            reply: reply::render(&failure.denial, &ctx),
            denial: failure.denial,
            rule: label,
            provider: provider.map(|p| p.name.clone()),
            fingerprint: failure.fingerprint,
        });
        if self.config.mode == Mode::Report {
            allowed.edits.set.push((
                self.config.report_header.clone(),
                format!("{}; rule={}", denied.denial.code(), denied.rule),
            ));
            allowed.would_deny = Some(denied);
            return Decision::Allow(allowed);
        }
        Decision::Deny(denied)
    }

    /// The reply for a client over its `throttle` limit (a pass that says so in report mode).
    pub fn throttled(&self, view: &dyn RequestView, retry_after: u64) -> Decision {
        let req = Request::new(view);
        let allowed = Allowed {
            rule: "throttle".into(),
            ..self.allowed_base(view)
        };
        let failure = Failure::of(Denial::TooManyFailures(retry_after));
        self.refuse_as(&req, None, failure, "throttle".into(), allowed)
    }
}
