//! Where a provider looks for its token: headers (with a prefix such as `Bearer `), query
//! parameters and cookies, as Envoy's jwt_authn `from_headers`/`from_params`/`from_cookies`.
//! A token found in more than one place is a conflict (RFC 6750 §2).

use super::RawJwtHeader;
use crate::authorization::Authorization;
use crate::error::ConfigError;
use crate::providers::{locate, Found};
use crate::request::Request;
use crate::schema::fields;

/// How a header value introduces the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefix {
    /// The whole value is the token.
    None,
    /// `Bearer <token>`, scheme matched case-insensitively (RFC 9110 §11.1).
    Bearer,
    /// `DPoP <token>` (RFC 9449 §7.1), only in `Authorization`, with a proof beside it.
    Dpop,
    /// Any other literal prefix, matched exactly.
    Literal(String),
}

/// One place a token may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A header (lower-case name) and its prefix.
    Header(String, Prefix),
    /// A query parameter.
    Param(String),
    /// A cookie.
    Cookie(String),
}

impl TokenSource {
    /// Where this source is in a request.
    pub fn place(&self) -> locate::Place<'_> {
        match self {
            TokenSource::Header(h, _) => locate::Place::Header(h),
            TokenSource::Param(p) => locate::Place::Query(p),
            TokenSource::Cookie(c) => locate::Place::Cookie(c),
        }
    }

    /// Whether this source is the `Authorization` header.
    pub fn is_authorization(&self) -> bool {
        matches!(self, TokenSource::Header(h, _) if h == "authorization")
    }

    /// Whether this source is `Authorization: DPoP`.
    pub fn is_dpop(&self) -> bool {
        matches!(self, TokenSource::Header(_, Prefix::Dpop))
    }
}

/// Looks for the token in every source, in order.
pub fn find(sources: &[TokenSource], req: &Request, auth: &Authorization) -> Found {
    locate::in_one_place(sources.iter().map(|source| match source {
        TokenSource::Header(h, prefix) if h == "authorization" => match prefix {
            Prefix::Bearer => locate::single(auth.for_scheme("bearer").map(str::to_string)),
            Prefix::Dpop => locate::single(auth.for_scheme("dpop").map(str::to_string)),
            _ => strip(locate::single(req.header(h)), prefix),
        },
        TokenSource::Header(h, prefix) => strip(locate::header_lines(req, h), prefix),
        TokenSource::Param(p) => locate::query_param(&req.path_and_query(), p),
        TokenSource::Cookie(c) => locate::cookie(req, c),
    }))
}

/// The sources `from_headers`, `from_params` and `from_cookies` of provider `field` name, in
/// that order; `Authorization: Bearer` when none is given (Envoy's default: when any source is
/// given, only those are read).
pub fn compile_sources(
    field: &str,
    headers: Option<&[RawJwtHeader]>,
    params: Option<&[String]>,
    cookies: Option<&[String]>,
) -> Result<Vec<TokenSource>, ConfigError> {
    let mut sources = Vec::new();
    for (i, h) in headers.unwrap_or_default().iter().enumerate() {
        let name = fields::header_to_read(&format!("{field}.from_headers[{i}].name"), &h.name)?;
        let prefix = match h.value_prefix.as_deref() {
            None | Some("") => Prefix::None,
            Some(p) if p.trim().eq_ignore_ascii_case("bearer") => Prefix::Bearer,
            Some(p) => Prefix::Literal(p.to_string()),
        };
        sources.push(TokenSource::Header(name, prefix));
    }
    let named = |list: Option<&[String]>, what: &str, thing: &str| {
        let mut out = Vec::new();
        for (i, n) in list.unwrap_or_default().iter().enumerate() {
            if !fields::is_token(n) {
                return Err(ConfigError::new(
                    format!("{field}.{what}[{i}]"),
                    format!("must be a {thing} name"),
                ));
            }
            out.push(n.clone());
        }
        Ok(out)
    };
    sources.extend(
        named(params, "from_params", "parameter")?
            .into_iter()
            .map(TokenSource::Param),
    );
    sources.extend(
        named(cookies, "from_cookies", "cookie")?
            .into_iter()
            .map(TokenSource::Cookie),
    );
    if sources.is_empty() {
        sources.push(TokenSource::Header("authorization".into(), Prefix::Bearer));
    }
    Ok(sources)
}

/// `Bearer` when the sources include `Authorization: Bearer` (a provider's
/// `authorization_scheme`).
pub fn authorization_scheme(sources: &[TokenSource]) -> Option<&'static str> {
    let reads = |p: Prefix| {
        sources
            .iter()
            .any(|s| matches!(s, TokenSource::Header(h, q) if h == "authorization" && *q == p))
    };
    if reads(Prefix::Bearer) {
        Some("Bearer")
    } else if reads(Prefix::Dpop) {
        Some("DPoP")
    } else {
        None
    }
}

/// The scheme of a token found in source `source`: `DPoP` from `Authorization: DPoP`,
/// otherwise `Bearer`.
pub fn scheme_of(sources: &[TokenSource], source: usize) -> crate::reply::Scheme {
    if sources.get(source).is_some_and(TokenSource::is_dpop) {
        crate::reply::Scheme::DPoP
    } else {
        crate::reply::Scheme::Bearer
    }
}

/// The headers the sources read.
pub fn headers_read(sources: &[TokenSource]) -> Vec<&str> {
    sources
        .iter()
        .filter_map(|s| match s {
            TokenSource::Header(h, _) => Some(h.as_str()),
            _ => None,
        })
        .collect()
}

/// The `from_headers`, `from_params` and `from_cookies` fields of a token provider.
pub type FromFields<'a> = (
    Option<&'a [RawJwtHeader]>,
    Option<&'a [String]>,
    Option<&'a [String]>,
);

/// A token provider's (`jwt`, `introspection`) sender constraints and token sources: the
/// `from_*` fields (`custom`: any of them given) with `Authorization: DPoP` added or alone as
/// `dpop` asks.
pub fn compile_token_sources(
    field: &str,
    setup: &crate::providers::Setup,
    binding: crate::binding::RawBinding,
    (headers, params, cookies): FromFields,
) -> Result<(crate::binding::Binding, Vec<TokenSource>), ConfigError> {
    let binding = crate::binding::Binding::compile(
        field,
        binding,
        (setup.signatures.clone(), setup.secret),
        setup.env,
    )?;
    let custom = headers.is_some() || params.is_some() || cookies.is_some();
    let sources = compile_sources(field, headers, params, cookies)?;
    let sources = with_binding(field, sources, &binding, custom)?;
    Ok((binding, sources))
}

/// `sources` with the sender constraint `binding` applied: `Authorization: DPoP` added when
/// DPoP is allowed, and the only source when it is required (RFC 9449 §7.1 defines the scheme
/// for that header alone; `from_*` cannot stand beside it).
pub fn with_binding(
    field: &str,
    mut sources: Vec<TokenSource>,
    binding: &crate::binding::Binding,
    custom: bool,
) -> Result<Vec<TokenSource>, ConfigError> {
    if binding.dpop.is_none() {
        return Ok(sources);
    }
    let dpop = TokenSource::Header("authorization".into(), Prefix::Dpop);
    if binding.takes_bearer() {
        sources.push(dpop);
        return Ok(sources);
    }
    if custom {
        return Err(ConfigError::new(
            format!("{field}.dpop"),
            "`required` reads tokens only from `Authorization: DPoP`; `from_headers`, `from_params` and `from_cookies` cannot stand beside it",
        ));
    }
    Ok(vec![dpop])
}

/// How tokens may be sent, in RFC 9728's words (`header`, `query`; cookies have no name there).
pub fn bearer_methods(sources: &[TokenSource]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for s in sources {
        let m = match s {
            TokenSource::Header(..) => "header",
            TokenSource::Param(_) => "query",
            TokenSource::Cookie(_) => continue,
        };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

fn strip(found: Found, prefix: &Prefix) -> Found {
    let Found::One(v, _) = found else {
        return found;
    };
    let token = match prefix {
        Prefix::None => Some(v.as_str()),
        Prefix::Bearer => v
            .split_once([' ', '\t'])
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim()),
        Prefix::Dpop => None,
        Prefix::Literal(p) => v.strip_prefix(p.as_str()),
    };
    // The source index is set by `locate::in_one_place`.
    locate::single(token.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::HeaderList;

    #[test]
    fn find_table() {
        let sources = vec![
            TokenSource::Header("authorization".into(), Prefix::Bearer),
            TokenSource::Header("x-token".into(), Prefix::Literal("JWT ".into())),
            TokenSource::Param("access_token".into()),
            TokenSource::Cookie("session".into()),
        ];
        /// A named case: path, headers, what is found.
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Found);
        let cases: &[Case] = &[
            (
                "bearer",
                "/",
                &[("authorization", "Bearer a.b.c")],
                Found::One("a.b.c".into(), 0),
            ),
            (
                "bearer any case",
                "/",
                &[("authorization", "bEaReR a.b.c")],
                Found::One("a.b.c".into(), 0),
            ),
            (
                "basic is not ours",
                "/",
                &[("authorization", "Basic abc")],
                Found::Absent,
            ),
            (
                "literal prefix",
                "/",
                &[("x-token", "JWT a.b.c")],
                Found::One("a.b.c".into(), 1),
            ),
            (
                "literal prefix is exact",
                "/",
                &[("x-token", "jwt a.b.c")],
                Found::Absent,
            ),
            (
                "param",
                "/?access_token=a.b.c",
                &[],
                Found::One("a.b.c".into(), 2),
            ),
            (
                "cookie",
                "/",
                &[("cookie", "session=a.b.c")],
                Found::One("a.b.c".into(), 3),
            ),
            (
                "header and param",
                "/?access_token=a.b.c",
                &[("authorization", "Bearer a.b.c")],
                Found::Conflict,
            ),
            (
                "param twice",
                "/?access_token=x&access_token=y",
                &[],
                Found::Conflict,
            ),
            (
                "custom header twice",
                "/",
                &[("x-token", "JWT a"), ("x-token", "JWT b")],
                Found::Conflict,
            ),
            (
                "empty bearer",
                "/",
                &[("authorization", "Bearer")],
                Found::Absent,
            ),
        ];
        for (name, path, headers, want) in cases {
            let view = HeaderList::new("GET", path, headers);
            let req = Request::new(&view);
            let auth_value = req.header("authorization");
            let auth = Authorization::parse(auth_value.as_deref());
            assert_eq!(&find(&sources, &req, &auth), want, "{name}");
        }
    }
}
