//! What each decision leaves behind: counters (counted in the worker and handed to the host on
//! the tick, because a host call per counter per request measurably slows the hot path) and
//! audit lines (built only when the host would write them, and limited per second).

use crate::audit::{self, AuditLimiter, Facts};
use crate::capabilities::Host;
use crate::engine::{Decision, Engine};
use crate::metrics::Catalog;
use crate::request::RequestView;
use std::cell::RefCell;

/// The request a decision was made on, as the audit line needs it.
#[derive(Clone, Copy)]
pub struct Seen<'a> {
    /// Its headers.
    pub view: &'a dyn RequestView,
    /// When the decision was made (ms since the epoch).
    pub now: u64,
    /// The client's address, when already read.
    pub client: Option<&'a str>,
}

/// The counters of one configuration: the catalogue, the host's id of each, and the counts not
/// yet handed to the host.
pub struct Counters {
    catalog: Catalog,
    ids: Vec<Option<u32>>,
    pending: RefCell<Vec<u64>>,
    /// The counters with a pending count, so a flush visits those, not the whole catalogue
    /// (the native module flushes after every decision).
    touched: RefCell<Vec<usize>>,
}

impl Counters {
    /// Defines every counter of `catalog` with the host.
    pub fn define(host: &dyn Host, catalog: Catalog) -> Self {
        let ids: Vec<Option<u32>> = catalog
            .names()
            .iter()
            .map(|n| host.define_counter(n))
            .collect();
        Counters {
            pending: RefCell::new(vec![0; ids.len()]),
            touched: RefCell::new(Vec::new()),
            ids,
            catalog,
        }
    }

    /// The catalogue.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Counts `by` on counter `i`, to be handed over at the next flush.
    pub fn add(&self, i: usize, by: u64) {
        if let Some(n) = self.pending.borrow_mut().get_mut(i) {
            if *n == 0 && by > 0 {
                self.touched.borrow_mut().push(i);
            }
            *n += by;
        }
    }

    /// Hands the pending counts to the host.
    pub fn flush(&self, host: &dyn Host) {
        let mut pending = self.pending.borrow_mut();
        for i in self.touched.borrow_mut().drain(..) {
            if let Some(n) = pending.get_mut(i) {
                if let (true, Some(Some(id))) = (*n > 0, self.ids.get(i)) {
                    host.increment_counter(*id, *n);
                }
                *n = 0;
            }
        }
    }

    /// Counters and the audit line for `decision` on the request `seen` describes.
    pub fn account(
        &self,
        host: &dyn Host,
        engine: &Engine,
        audit: &AuditLimiter,
        decision: &Decision,
        seen: &Seen,
    ) {
        let Seen { view, now, client } = *seen;
        let config = engine.config();
        for i in self.catalog.for_decision(decision, config) {
            self.add(i, 1);
        }
        let (by_host, in_module) = self.catalog.signatures;
        for p in &config.providers {
            let (host_checks, module_checks) = p.check.take_signature_checks();
            self.add(by_host, host_checks);
            self.add(in_module, module_checks);
            if let Some(used) = p.check.take_cache_use() {
                for (i, by) in self.catalog.for_cache(used) {
                    self.add(i, by);
                }
            }
        }
        let level = config.audit_level;
        // Lines the host would drop are not built: building one costs host calls.
        if !host.log_enabled(level) {
            return;
        }
        let wants_line = match decision {
            Decision::Deny(_) => true,
            Decision::Allow(a) => a.would_deny.is_some() || config.log_allowed,
            Decision::Wait(_) | Decision::Answer(_) | Decision::ReadBody => false,
        };
        if !wants_line {
            return;
        }
        if !audit.allow(config.audit_lines_per_second, now) {
            self.add(self.catalog.audit_suppressed, 1);
            return;
        }
        let h = |n| view.header(n).unwrap_or_default();
        let (method, path, request_id) = (h(":method"), h(":path"), h("x-request-id"));
        let client = client.map_or_else(|| host.client_address(), str::to_string);
        let facts = Facts {
            method: &method,
            path_and_query: &path,
            client: &client,
            request_id: &request_id,
            call: Facts::call_of(view),
        };
        let line = match decision {
            Decision::Deny(d) => audit::denied_line(d, &facts, false, config.audit_format),
            Decision::Allow(a) => match &a.would_deny {
                Some(d) => audit::denied_line(d, &facts, true, config.audit_format),
                None => audit::allowed_line(a, &facts, config.audit_format),
            },
            Decision::Wait(_) | Decision::Answer(_) | Decision::ReadBody => return,
        };
        host.log(level, &line);
    }

    /// The audit line of a finished sign-in: at the audit level for a success, `warn` for a
    /// failure, rate-limited like every other line.
    pub fn sign_in_line(
        &self,
        host: &dyn Host,
        engine: &Engine,
        audit: &AuditLimiter,
        (provider, outcome): (&str, &Result<String, String>),
        seen: &Seen,
    ) {
        let config = engine.config();
        let level = if outcome.is_ok() {
            config.audit_level
        } else {
            crate::capabilities::LogLevel::Warn
        };
        if !host.log_enabled(level) {
            return;
        }
        if !audit.allow(config.audit_lines_per_second, seen.now) {
            self.add(self.catalog.audit_suppressed, 1);
            return;
        }
        let h = |n| seen.view.header(n).unwrap_or_default();
        let (method, path, request_id) = (h(":method"), h(":path"), h("x-request-id"));
        let client = seen
            .client
            .map_or_else(|| host.client_address(), str::to_string);
        let facts = crate::audit::Facts {
            method: &method,
            path_and_query: &path,
            client: &client,
            request_id: &request_id,
            call: Facts::call_of(seen.view),
        };
        host.log(
            level,
            &crate::audit::sign_in_line(provider, outcome, &facts, config.audit_format),
        );
    }
}
