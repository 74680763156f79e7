//! authgate: credential checks for Envoy as a proxy-wasm filter.
//!
//! Everything that decides lives in plain Rust modules that never touch the host: configuration
//! ([`config`]), the request view ([`request`]), providers ([`providers`]), rules ([`rules`]),
//! the decision ([`engine`]) and replies ([`reply`]). The host adapter (`host`, wasm32 only)
//! turns proxy-wasm callbacks into calls of [`engine::Engine::decide`].

pub mod audit;
pub mod authorization;
pub mod cache;
pub mod config;
pub mod engine;
pub mod error;
pub mod json;
pub mod metrics;
pub mod providers;
pub mod reply;
pub mod request;
pub mod rules;
pub mod throttle;

#[cfg(target_arch = "wasm32")]
mod host;

pub use engine::{Decision, Engine};
pub use error::{ConfigError, Denial};
pub use request::{HeaderList, RequestView};
