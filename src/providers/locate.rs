//! Finding a credential in a query parameter, a cookie or a header that may be repeated, and
//! cutting it out again before the request goes upstream. Shared by every provider.

use super::{Found, HeaderEdits};
use crate::request::{
    cookie_header, cookies, cookies_except, path_only, percent_decode, query_of, Request,
};

/// A place in a request where a credential can be: the part both API keys and tokens share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// A header (lower-case name).
    Header(&'a str),
    /// A query parameter.
    Query(&'a str),
    /// A cookie.
    Cookie(&'a str),
}

/// Cuts the credential found at `place` out of the request before it goes upstream: the header
/// is removed, the parameter cut from `:path`, the cookie cut from `Cookie`.
pub fn hide(place: Place, req: &Request, edits: &mut HeaderEdits) {
    match place {
        Place::Header(h) => edits.remove.push(h.to_string()),
        Place::Query(q) => edits.set.push((
            ":path".into(),
            without_query_param(&req.path_and_query(), q),
        )),
        Place::Cookie(c) => match without_cookie(&cookie_header(req).unwrap_or_default(), c) {
            Some(rest) => edits.set.push(("cookie".into(), rest)),
            None => edits.remove.push("cookie".into()),
        },
    }
}

/// One value, or absent when empty.
pub fn single(v: Option<String>) -> Found {
    match v {
        Some(v) if !v.is_empty() => Found::One(v, 0),
        _ => Found::Absent,
    }
}

/// Absent, one value, or a conflict when there are several.
pub fn one_of(mut values: impl Iterator<Item = String>) -> Found {
    match (values.next(), values.next()) {
        (None, _) => Found::Absent,
        (Some(v), None) => single(Some(v)),
        (Some(_), Some(_)) => Found::Conflict,
    }
}

/// The one place a credential was found among several sources, looked at in order; found in
/// two places (or twice in one) is a conflict, and looking stops there.
pub fn in_one_place(findings: impl Iterator<Item = Found>) -> Found {
    let mut found = Found::Absent;
    for (i, here) in findings.enumerate() {
        match (here, &found) {
            (Found::Absent, _) => {}
            (Found::Conflict, _) | (Found::One(..), Found::One(..)) => return Found::Conflict,
            (Found::One(v, _), _) => found = Found::One(v, i),
        }
    }
    found
}

/// Every line of header `name`; a comma inside a line counts as two values (RFC 9110 §5.3),
/// which no credential of ours contains.
pub fn header_lines(req: &Request, name: &str) -> Found {
    let values = req.header_values(name);
    if values.iter().any(|v| v.contains(',')) {
        return Found::Conflict;
    }
    one_of(
        values
            .into_iter()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty()),
    )
}

/// Query parameter `name`, percent-decoded.
pub fn query_param(path_and_query: &str, name: &str) -> Found {
    let Some(query) = query_of(path_and_query) else {
        return Found::Absent;
    };
    one_of(query.split('&').filter_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        // An undecodable value cannot be a credential; it is kept so it fails as wrong.
        (percent_decode(k).as_deref() == Some(name))
            .then(|| percent_decode(v).unwrap_or_else(|| v.to_string()))
    }))
}

/// Cookie `name`.
pub fn cookie(req: &Request, name: &str) -> Found {
    match cookie_header(req) {
        Some(h) => one_of(
            cookies(&h)
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string()),
        ),
        None => Found::Absent,
    }
}

/// `:path` without query parameter `name`.
pub fn without_query_param(path_and_query: &str, name: &str) -> String {
    let kept: Vec<&str> = query_of(path_and_query)
        .unwrap_or("")
        .split('&')
        .filter(|p| {
            let k = p.split('=').next().unwrap_or(p);
            !p.is_empty() && percent_decode(k).as_deref() != Some(name)
        })
        .collect();
    let mut path = path_only(path_and_query).to_string();
    if !kept.is_empty() {
        path.push('?');
        path.push_str(&kept.join("&"));
    }
    path
}

/// The `Cookie` header without cookie `name`, the rest as sent; `None` when nothing is left.
pub fn without_cookie(header: &str, name: &str) -> Option<String> {
    cookies_except(header, |n| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutting_out() {
        assert_eq!(without_query_param("/a?x=1&k=2&y=3", "k"), "/a?x=1&y=3");
        assert_eq!(without_query_param("/a?k=2", "k"), "/a");
        assert_eq!(without_query_param("/a?%6B=2&z", "k"), "/a?z");
        assert_eq!(
            without_cookie("a=1; k=2; b=3", "k").as_deref(),
            Some("a=1; b=3")
        );
        assert_eq!(without_cookie("k=2", "k"), None);
    }
}
