//! Configuration in two phases: [`raw`] is the JSON as written, [`compile`] validates it into
//! a [`Config`] that is ready to use on the hot path (hashes decoded, names resolved,
//! challenges prebuilt).

mod compile;
mod compile_exchange;
mod compile_match;
mod compile_rules;
mod protobuf_struct;
pub mod raw;

pub use compile::{compile, compile_with};

use crate::reply::ResponseSettings;
use crate::rules::Rule;
use crate::throttle::Throttle;

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    /// `realm` of every challenge.
    pub realm: String,
    /// Providers; rules refer to them by index.
    pub providers: Vec<NamedProvider>,
    /// Rules in order, followed by the implicit rule that requires any provider.
    pub rules: Vec<Rule>,
    /// Let CORS preflight requests through.
    pub allow_cors_preflight: bool,
    /// Headers the filter sets upstream, removed from every incoming request.
    pub identity_headers: Vec<String>,
    /// Enforce, or only report.
    pub mode: Mode,
    /// In report mode, the header that carries what would have been refused.
    pub report_header: String,
    /// Log successes too.
    pub log_allowed: bool,
    /// Level of audit lines.
    pub audit_level: AuditLevel,
    /// Most audit lines per second per worker; 0 means no limit.
    pub audit_lines_per_second: u32,
    /// How audit lines are written.
    pub audit_format: AuditFormat,
    /// How replies read.
    pub response: ResponseSettings,
    /// The protected resources (RFC 9728): `resource` or `resources`.
    pub resources: crate::resource::set::Resources,
    /// The list answers cut down to what the caller may use (`mcp.filter_lists`): which
    /// kinds, so empty when off, in report mode, or when no rule concerns them.
    pub mcp_lists: Vec<crate::mcp::select::Kind>,
    /// Lists keep what a step-up would allow (`mcp.show_step_up`).
    pub mcp_show_step_up: bool,
    /// Scopes that imply others.
    pub scope_hierarchy: crate::scopes::ScopeHierarchy,
    /// Brute-force throttling, when configured.
    pub throttle: Option<Throttle>,
    /// The signed identity assertion, when configured.
    pub assertion: Option<crate::assertion::Assertion>,
    /// Something decides by the request's authority (a host rule, a DPoP `htu`, where the
    /// resource is advertised), so a malformed one is refused before any rule decides.
    pub reads_authority: bool,
    /// Something decides by the path (a rule's `prefix` or `path` other than `/`, resources
    /// told apart by path), so a path with no one reading is refused before any rule decides.
    pub reads_path: bool,
}

/// `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse what fails (the default).
    Enforce,
    /// Refuse nothing; count, log and mark what would have been refused.
    Report,
}

/// How audit lines are written: `audit_format` ([`crate::audit`] writes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuditFormat {
    /// `authgate: denied status=401 error=... reason="..."`.
    #[default]
    Text,
    /// `{"authgate":"denied","status":401,"error":"...",...}`.
    Json,
}

/// `audit_level`: the level audit lines are written at.
pub type AuditLevel = crate::capabilities::LogLevel;

/// A provider and its name in the configuration.
pub struct NamedProvider {
    /// Its name in the configuration.
    pub name: String,
    /// The checker.
    pub check: Box<dyn crate::providers::Provider>,
}

/// The name only: a `Debug` bound on every provider would keep each one's formatter in the
/// module through the trait object's vtable, though nothing prints them.
impl std::fmt::Debug for NamedProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedProvider")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
