//! Sessions carried by the browser, not stored: a sealed value ([`seal`]) in one or more
//! cookies ([`cookies`]), so any Envoy of any replica serves any browser with no shared store.

pub mod cookies;
pub mod payload;
pub mod seal;

/// A return address taken from the request that started the sign-in: a path on this site
/// (with its query), never a scheme, a host or `//`, so the callback cannot be made to send a
/// browser elsewhere. The path is returned in its normal form ([`crate::path`]), as a browser
/// would resolve it (`/.//evil.example` is `/evil.example`). Anything else returns to `/`.
pub fn return_address(path: &str) -> String {
    let safe = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 2048
        && path.bytes().all(|b| b.is_ascii_graphic());
    let normal = crate::path::normal(crate::request::path_only(path));
    match normal {
        Ok(n) if safe && n.path.starts_with('/') && !n.path.starts_with("//") => {
            let mut out = n.path.into_owned();
            if let Some(q) = crate::request::query_of(path) {
                out.push('?');
                out.push_str(q);
            }
            out
        }
        _ => "/".to_string(),
    }
}
