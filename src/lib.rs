//! authgate's core: credential checks for Envoy, with no host in it.
//!
//! Everything that decides lives in plain Rust modules that never touch the host: configuration
//! ([`config`]), the request view ([`request`]), providers ([`providers`]), rules ([`rules`]),
//! the decision ([`engine`]), replies ([`reply`]), and one worker's state and events
//! ([`worker`]) with the records it keeps in shared data ([`shared_state`]), and the sender
//! constraints on tokens ([`binding`]). They reach the
//! proxy only through the [`capabilities::Host`] trait. Each host is a crate of its own that
//! implements that trait and turns its callbacks into [`worker::Worker`] calls, deciding nothing:
//! the proxy-wasm filter (`wasm/`), the Envoy dynamic module (`native/`) and the command line
//! (`cli/`); `docs/layout.md` says what each may use. The core has no `unsafe`.

#![forbid(unsafe_code)]

pub mod assertion;
pub mod audit;
pub mod authorization;
pub mod binding;
pub mod cache;
pub mod capabilities;
pub mod conditions;
pub mod config;
pub mod crypto;
pub mod driver;
pub mod engine;
pub mod error;
pub mod exchange;
pub mod jose;
pub mod json;
pub mod lint;
pub mod mcp;
pub mod metrics;
pub mod path;
pub mod providers;
pub mod reply;
pub mod request;
pub mod resource;
pub mod rules;
pub mod schema;
pub mod scopes;
pub mod session;
pub mod shared_state;
pub mod throttle;
pub mod worker;

pub use engine::{Decision, Engine, Verdict};
pub use error::{ConfigError, Denial};
pub use request::{HeaderList, HeaderPairs, RequestView};
