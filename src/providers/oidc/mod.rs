//! OpenID Connect sign-in for people in browsers (`type: "oidc"`): the authorization code
//! flow with PKCE, and a session in sealed cookies afterwards. Built in steps: [`flow`] and
//! [`config`] are the parts that stand alone; the provider itself is not registered yet.

pub mod callback;
pub mod config;
pub mod flow;
pub mod logout;
pub mod session_check;
pub mod settings;
pub mod signin;

#[cfg(test)]
mod tests;
