//! OpenID Connect sign-in for people in browsers (`type: "oidc"`): the authorization code
//! flow with PKCE, and a session in sealed cookies afterwards: [`provider`] is the provider,
//! the other modules its parts.

pub mod callback;
pub mod config;
pub mod flow;
pub mod logout;
pub mod page;
pub mod provider;
pub mod session_check;
pub mod settings;
pub mod signin;

#[cfg(test)]
mod tests;
