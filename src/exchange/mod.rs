//! Token exchange (RFC 8693): a token minted by the authorization server for the upstream, in
//! place of the caller's. [`config`] is the `token_exchange` section and the request it sends,
//! [`answer`] reads the token endpoint's answer; the calls, their leases and the issued
//! tokens every worker shares are in [`crate::shared_state::exchange`].

pub mod answer;
pub mod config;

pub use config::{Exchange, RawTokenExchange};

#[cfg(test)]
mod tests;
