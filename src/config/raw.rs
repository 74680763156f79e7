//! The configuration exactly as users write it: structs that refuse unknown fields, read by
//! [`crate::schema::decode`].
//! Nothing here is checked beyond its JSON shape; [`super::compile`] does the rest.

pub use crate::reply::RawResponse;
pub use crate::resource::RawResource;
use crate::schema::decode::raw_struct;
pub use crate::scopes::RawScopeHierarchy;
use serde_json::Value;
use std::collections::BTreeMap;

raw_struct! {
    /// The plugin configuration document.
    #[derive(Debug)]
    pub struct RawConfig {
        /// `realm` of every challenge; defaults to `authgate`.
        pub realm: Option<String>,
        /// Named credential checkers, each read by its provider type through
        /// [`crate::providers::registry`], so that an error deep inside one is named by its full
        /// path.
        pub providers: BTreeMap<String, Value>,
        /// Ordered rules; the first whose `match` fits decides. Absent: every request requires any
        /// one provider.
        pub rules: Option<Vec<RawRule>>,
        /// Let CORS preflight requests through without credentials (default true).
        pub allow_cors_preflight: Option<bool>,
        /// `enforce` (default) or `report`: let everything through, count and log what would
        /// have been refused.
        pub mode: Option<String>,
        /// In report mode, the header that tells upstream what would have been refused
        /// (default `x-authgate-would-deny`).
        pub report_header: Option<String>,
        /// Log successes with the identity too (default false).
        pub log_allowed: Option<bool>,
        /// Level of audit lines: `debug`, `info` (default), `warn` or `error`.
        pub audit_level: Option<String>,
        /// Most audit lines per second per worker (default 100, 0 = no limit); the rest are
        /// counted and summarised.
        pub audit_lines_per_second: Option<u32>,
        /// How audit lines are written: `text` (default) or `json`.
        pub audit_format: Option<String>,
        /// How replies read.
        pub response: Option<RawResponse>,
        /// Brute-force throttling per client address.
        pub throttle: Option<RawThrottle>,
        /// OAuth 2.0 Protected Resource Metadata (RFC 9728).
        pub resource: Option<RawResource>,
        /// Several protected resources, each with its own metadata document; `resource` is
        /// the one-element case.
        pub resources: Option<Vec<RawResource>>,
        /// The MCP gateway's switches.
        pub mcp: Option<RawMcp>,
        /// Scopes that imply others, for every rule's `scopes`.
        pub scope_hierarchy: Option<RawScopeHierarchy>,
        /// The signed identity assertion the upstream receives on rules with `assertion`.
        pub assertion: Option<crate::assertion::RawAssertion>,
    }
}

raw_struct! {
    /// `throttle`.
    #[derive(Debug)]
    pub struct RawThrottle {
        /// Refused credentials allowed per window.
        pub max_failures: u32,
        /// The window, in seconds.
        pub window_seconds: u64,
    }
}

raw_struct! {
    /// One rule.
    #[derive(Debug)]
    pub struct RawRule {
        /// Which requests the rule applies to.
        pub matcher = "match": RawMatch,
        /// A provider name, `"none"`, `{"any": [...]}` or `{"all": [...]}`; interpreted by
        /// [`super::compile`] so that its errors can be precise.
        pub requires: Value,
        /// Scopes a JWT must carry.
        pub scopes: Option<Vec<String>>,
        /// Conditions on the authenticated credential's claims (`claim` + `equals`/`contains`/`in`).
        pub claims: Option<Vec<Value>>,
        /// The Basic users, API key clients or token subjects allowed.
        pub identities: Option<Vec<String>>,
        /// Exchange the caller's token for one issued for the upstream (RFC 8693).
        pub token_exchange: Option<crate::exchange::RawTokenExchange>,
        /// Give the upstream a signed identity assertion (the top-level `assertion`).
        pub assertion: Option<bool>,
    }
}

raw_struct! {
    /// `match`: exactly one of `prefix`, `path`; optionally `methods`, `hosts`, `headers`.
    #[derive(Debug)]
    pub struct RawMatch {
        /// Path prefix (string prefix of the path without its query, as Envoy's route `prefix`).
        pub prefix: Option<String>,
        /// Exact path, without the query.
        pub path: Option<String>,
        /// HTTP methods; absent means all.
        pub methods: Option<Vec<String>>,
        /// Host names (`:authority` without its port), as Envoy's virtual host `domains`.
        pub hosts: Option<Vec<String>>,
        /// Header conditions, as Envoy's `HeaderMatcher`.
        pub headers: Option<Vec<RawHeaderMatch>>,
        /// Conditions on the MCP JSON-RPC request in a `POST` body.
        pub mcp: Option<RawMcpMatch>,
    }
}

raw_struct! {
    /// `match.mcp`: which MCP calls a rule concerns; every list given must hold.
    #[derive(Debug)]
    pub struct RawMcpMatch {
        /// JSON-RPC methods (`tools/call`, `tools/list`, ...); `*` is a wildcard.
        pub methods: Option<Vec<String>>,
        /// Tool names of `tools/call`; `*` is a wildcard.
        pub tools: Option<Vec<String>>,
        /// Resource URIs of `resources/read` (and `resources/subscribe`/`unsubscribe`).
        pub resources: Option<Vec<String>>,
        /// Prompt names of `prompts/get`.
        pub prompts: Option<Vec<String>>,
    }
}

raw_struct! {
    /// Top-level `mcp`: the MCP gateway's own switches.
    #[derive(Debug)]
    pub struct RawMcp {
        /// Cut `tools/list`, `prompts/list` and `resources/list` answers down to what the
        /// caller may use (default: on when a rule has `match.mcp`).
        pub filter_lists: Option<bool>,
        /// Keep in lists what the caller could use after a step-up (its only refusal is a
        /// 403 `insufficient_scope`), so an agent learns the tool exists (default false).
        pub show_step_up: Option<bool>,
    }
}

raw_struct! {
    /// One entry of `match.headers`: a name and exactly one of `exact`, `prefix`, `present`.
    #[derive(Debug)]
    pub struct RawHeaderMatch {
        /// The header name.
        pub name: String,
        /// The value equals this.
        pub exact: Option<String>,
        /// The value starts with this.
        pub prefix: Option<String>,
        /// The header is present (`true`) or absent (`false`).
        pub present: Option<bool>,
        /// Invert the result.
        pub invert: Option<bool>,
    }
}
