//! Where sign-in meets the decision: a sign-in provider's own paths (callback, login,
//! logout) are answered before any rule, and a page navigation refused for having no session
//! on a route that provider serves is sent to sign in instead of getting the 401.

use super::requirement::Failure;
use super::{Awaited, Decision, Engine};
use crate::error::Denial;
use crate::providers::oidc::callback::Exchange;
use crate::providers::oidc::flow::is_navigation;
use crate::providers::oidc::provider::{OidcProvider, Step, TokenCall};
use crate::request::Request;
use crate::rules::{Requirement, Rule};

impl Engine {
    /// The decision for a request to one of a sign-in provider's own paths, if it is one.
    pub(super) fn sign_in_path(
        &self,
        req: &Request,
        path: &str,
        now: u64,
        may_wait: bool,
    ) -> Option<Decision> {
        let (i, o) = self
            .config
            .providers
            .iter()
            .enumerate()
            .find_map(|(i, p)| {
                p.check
                    .sign_in()
                    .filter(|o| o.answers(path))
                    .map(|o| (i, o))
            })?;
        Some(self.step(i, o.on_path(req, now), may_wait))
    }

    /// For a page navigation refused with `failure` (no session) on `rule`: the redirect to
    /// sign in, when a provider of the rule signs people in.
    pub(super) fn sign_in_instead(
        &self,
        req: &Request,
        rule: &Rule,
        failure: &Failure,
        now: u64,
        may_wait: bool,
    ) -> Option<Decision> {
        // Report mode lets every request through, so nobody is sent to sign in.
        if failure.denial != Denial::MissingCredentials
            || self.config.mode == crate::config::Mode::Report
        {
            return None;
        }
        let fetch_mode = req.header("sec-fetch-mode");
        let accept = req.header("accept");
        if !is_navigation(&req.method(), fetch_mode.as_deref(), accept.as_deref()) {
            return None;
        }
        let (i, o) = self.sign_in_of(rule)?;
        let step = o.start(req, &req.path_and_query(), now);
        // Still a refusal (no valid session), answered with the redirect: it is counted and
        // written to the audit log like any missing credential, a session cookie that did not
        // open with its fingerprint, never its content.
        if let Step::Reply(reply) = step {
            let provider = failure.provider.and_then(|p| self.config.providers.get(p));
            return Some(Decision::Deny(Box::new(super::Refusal {
                denial: failure.denial.clone(),
                rule: rule.label.clone(),
                provider: provider.map(|p| p.name.clone()),
                fingerprint: failure.fingerprint.clone(),
                reply,
            })));
        }
        Some(self.step(i, step, may_wait))
    }

    /// The sign-in provider of `rule` (its index and itself), if it has one.
    pub(super) fn sign_in_of(&self, rule: &Rule) -> Option<(usize, &OidcProvider)> {
        let providers = match &rule.requires {
            Requirement::Any(p) | Requirement::All(p) => p,
            Requirement::None => return None,
        };
        providers
            .iter()
            .find_map(|i| Some((*i, self.config.providers.get(*i)?.check.sign_in()?)))
    }

    fn step(&self, provider: usize, step: Step, may_wait: bool) -> Decision {
        match step {
            Step::Reply(r) => Decision::Answer(Box::new(r)),
            Step::Wait(need) if may_wait => Decision::Wait(Awaited { provider, need }),
            // Out of time waiting for the issuer's metadata or keys: say so, never pass.
            Step::Wait(_) => self.sign_in_unavailable(provider),
        }
    }

    fn sign_in_unavailable(&self, provider: usize) -> Decision {
        let page = self
            .config
            .providers
            .get(provider)
            .and_then(|p| p.check.sign_in())
            .map(|o| o.unavailable());
        match page {
            Some(p) => Decision::Answer(Box::new(p)),
            None => Decision::Answer(Box::new(crate::reply::internal_error(false))),
        }
    }

    /// The token request of sign-in `ex` on provider `provider`, for the host to send.
    pub fn token_call(&self, provider: usize, ex: &Exchange) -> Option<TokenCall> {
        self.config
            .providers
            .get(provider)?
            .check
            .sign_in()?
            .token_call(ex)
    }

    /// The end of sign-in `ex` from the token endpoint's answer (`status` 0: none came), and
    /// for the audit line the provider's name and who signed in or why not.
    pub fn finish_sign_in(
        &self,
        provider: usize,
        ex: &Exchange,
        status: u16,
        body: &[u8],
        now: u64,
    ) -> (Decision, String, Result<String, String>) {
        let Some(p) = self.config.providers.get(provider) else {
            let d = self.sign_in_unavailable(provider);
            return (d, "-".into(), Err("no such provider".into()));
        };
        match p.check.sign_in() {
            Some(o) => {
                let f = o.finish(ex, status, body, now);
                (
                    Decision::Answer(Box::new(f.reply)),
                    p.name.clone(),
                    f.outcome,
                )
            }
            None => (
                self.sign_in_unavailable(provider),
                p.name.clone(),
                Err("not a sign-in provider".into()),
            ),
        }
    }
}
