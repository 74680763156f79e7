//! Sessions carried by the browser, not stored: a sealed value ([`seal`]) in one or more
//! cookies ([`cookies`]), so any Envoy of any replica serves any browser with no shared store.

pub mod cookies;
pub mod payload;
pub mod seal;
