//! The whole reply policy in one place: for each [`Denial`], the status, the
//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1, RFC 6750 §3, RFC 7617 §2) and the
//! `application/problem+json` body (RFC 9457). Nothing in a reply is taken from the credential.

mod challenge;
mod grpc;
pub mod html;
mod settings;

pub use challenge::{Challenge, Scheme};
pub use grpc::{is_grpc, status_for as grpc_status_for, trailers_only, GrpcReply};
pub use html::prefers_html;
pub use settings::{RawResponse, ResponseSettings, CODES};

use crate::error::Denial;
use crate::json;

/// A local reply: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers, `www-authenticate` once per challenge.
    pub headers: Vec<(String, String)>,
    /// The problem+json body.
    pub body: String,
    /// For a gRPC call: the gRPC status and message to answer with instead (the headers are
    /// then its metadata, and there is no body).
    pub grpc: Option<GrpcReply>,
}

/// A public JSON document authgate serves itself (protected resource metadata, the assertion
/// keys): the document for `GET` and `HEAD`, cacheable for `max_age` seconds, a CORS preflight
/// answer for `OPTIONS` (browser-based clients read it cross-origin), 405 for anything else.
pub fn public_document(document: &str, method: &str, max_age: u32) -> Reply {
    let header = |k: &str, v: &str| (k.to_string(), v.to_string());
    let allow = "GET, HEAD, OPTIONS";
    match method {
        "GET" | "HEAD" => Reply {
            status: 200,
            headers: vec![
                header("content-type", "application/json"),
                header("access-control-allow-origin", "*"),
                header("cache-control", &format!("public, max-age={max_age}")),
            ],
            body: if method == "GET" {
                document.to_string()
            } else {
                String::new()
            },
            grpc: None,
        },
        "OPTIONS" => Reply {
            status: 204,
            headers: vec![
                header("access-control-allow-origin", "*"),
                header("access-control-allow-methods", allow),
                header("access-control-allow-headers", "*"),
                header("access-control-max-age", "86400"),
            ],
            body: String::new(),
            grpc: None,
        },
        _ => Reply {
            status: 405,
            headers: vec![
                header("allow", allow),
                header("content-type", "application/problem+json"),
            ],
            body: "{\"type\":\"about:blank\",\"title\":\"Method Not Allowed\",\"status\":405,\"detail\":\"This document is read with GET.\"}".into(),
            grpc: None,
        },
    }
}

/// The answer when the filter cannot do its job (no configuration in force, a header that
/// cannot be edited): 500 `internal_error`, or for a gRPC call INTERNAL. Never a pass.
pub fn internal_error(grpc: bool) -> Reply {
    let no_store = ("cache-control".to_string(), "no-store".to_string());
    if grpc {
        return Reply {
            status: 500,
            headers: vec![("authgate-error".into(), "internal_error".into())],
            body: String::new(),
            grpc: Some(GrpcReply {
                code: grpc::status_for(500),
                message: "Authentication is unavailable.".into(),
            }),
        };
    }
    Reply {
        status: 500,
        headers: vec![
            ("content-type".into(), "application/problem+json".into()),
            no_store,
        ],
        body: "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500,\"detail\":\"Authentication is unavailable.\",\"error\":\"internal_error\"}".into(),
        grpc: None,
    }
}

#[cfg(test)]
impl Reply {
    /// The `WWW-Authenticate` values, in order (for tests).
    pub fn challenges(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "www-authenticate")
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Longest `x-request-id` echoed into a body; longer ids are cut.
const MAX_REQUEST_ID: usize = 128;

/// Status, title and plain-words detail for a denial.
fn describe(denial: &Denial, needs_all: bool) -> (u16, &'static str, String) {
    match denial {
        Denial::MissingCredentials if needs_all => (
            401,
            "Unauthorized",
            "This resource requires every one of the accepted credentials, and not all of them were sent.".into(),
        ),
        Denial::MissingCredentials => (
            401,
            "Unauthorized",
            "This resource requires authentication, and no credentials were sent. Send one of the accepted credentials.".into(),
        ),
        Denial::EmptyCredentials(scheme) => (
            401,
            "Unauthorized",
            format!("The Authorization header names the {scheme} scheme but holds no credential after it (an empty variable in a script?). Send the credential after the scheme."),
        ),
        Denial::InvalidCredentials(why) => (
            401,
            "Unauthorized",
            format!("The credentials sent were not accepted ({why}). Check them, or obtain new ones."),
        ),
        Denial::TokenExpired => (
            401,
            "Unauthorized",
            "The token has expired. Obtain a new token and try again.".into(),
        ),
        Denial::UnsupportedScheme => (
            401,
            "Unauthorized",
            "The Authorization scheme sent is not accepted for this resource. Use one of the accepted credentials.".into(),
        ),
        Denial::InsufficientScope(scopes) => (
            403,
            "Forbidden",
            format!("The credentials are valid but lack the scope this resource requires: {scopes}."),
        ),
        Denial::InvalidRequest(why) => (
            400,
            "Bad Request",
            format!("The request is malformed: {why}. Send exactly one credential, in one place."),
        ),
        Denial::BadAuthority => (
            400,
            "Bad Request",
            "The request is malformed: its Host (:authority) is not exactly one host[:port] (RFC 9112 §3.2). Send one Host header that names one host.".into(),
        ),
        Denial::AccessDenied(why) => (
            403,
            "Forbidden",
            format!("The credentials are valid but not allowed here: {why}."),
        ),
        Denial::InvalidDpopProof(why) => (
            401,
            "Unauthorized",
            format!("The DPoP proof sent with the token was not accepted ({why}). Sign a new proof for this request (RFC 9449) with the key the token is bound to."),
        ),
        Denial::UseDpopNonce(_) => (
            401,
            "Unauthorized",
            "This resource asks for a server nonce in DPoP proofs (RFC 9449 §9). Sign a new proof that carries the nonce of the DPoP-Nonce header and send the request again.".into(),
        ),
        Denial::TemporarilyUnavailable(secs) => (
            503,
            "Service Unavailable",
            format!("The credentials could not be checked because the token service did not answer. This is not a problem with the credentials: try again in {secs} seconds."),
        ),
        Denial::ExchangeUnavailable(secs) => (
            503,
            "Service Unavailable",
            format!("The credentials are valid, but the token this resource needs could not be obtained from the authorization server. This is not a problem with the credentials: try again in {secs} seconds."),
        ),
        Denial::TooManyFailures(secs) => (
            429,
            "Too Many Requests",
            format!("Too many failed sign-in attempts from this address. Try again in {secs} seconds."),
        ),
    }
}

/// The attributes a challenge of `scheme` gets for `denial`, after its realm, when the
/// credential that failed was of scheme `failed`.
///
/// RFC 6750 §3: `error` and `error_description` describe the access token, so they go only on
/// the challenge of the scheme whose credential failed; a wrong Basic password never reads as
/// "your token is bad" to an OAuth client. With no credential to blame (two `Authorization`
/// headers), the Bearer challenge says `invalid_request` (RFC 6750 §3.1). `insufficient_scope`
/// goes on the challenge of the scheme the token came with (a DPoP-bound token's 403 names
/// the scope on `DPoP` only, RFC 9449 §7.1), on Bearer when the scheme is not known.
fn attributes(scheme: Scheme, denial: &Denial, failed: Option<Scheme>) -> Option<String> {
    if !scheme.is_token() {
        return None;
    }
    // A password or key short of scope: the scope is asked of a token, on Bearer.
    let failed = match denial {
        Denial::InsufficientScope(_) => failed.filter(|f| f.is_token()),
        _ => failed,
    };
    if failed.is_some_and(|f| f != scheme) {
        return None;
    }
    // With no credential to blame, only the Bearer challenge names the problem.
    if failed.is_none() && scheme != Scheme::Bearer {
        return None;
    }
    match denial {
        Denial::InsufficientScope(scopes) => Some(format!(
            "error=\"insufficient_scope\", scope=\"{}\"",
            quotable(scopes)
        )),
        Denial::InvalidDpopProof(why) => Some(format!(
            "error=\"invalid_dpop_proof\", error_description=\"{}\"",
            quotable(why)
        )),
        Denial::UseDpopNonce(_) => Some(
            "error=\"use_dpop_nonce\", error_description=\"the resource server requires a nonce in DPoP proofs\"".into(),
        ),
        Denial::InvalidCredentials(why) => Some(format!(
            "error=\"invalid_token\", error_description=\"{}\"",
            quotable(why)
        )),
        Denial::TokenExpired => {
            Some("error=\"invalid_token\", error_description=\"the token has expired\"".into())
        }
        Denial::InvalidRequest(why) => Some(format!(
            "error=\"invalid_request\", error_description=\"{}\"",
            quotable(why)
        )),
        _ => None,
    }
}

/// RFC 6750 §3: `error_description` and `scope` hold only %x20-21 / %x23-5B / %x5D-7E.
fn quotable(s: &str) -> String {
    s.chars()
        .filter(|&c| matches!(c, ' '..='~') && c != '"' && c != '\\')
        .collect()
}

/// What a reply depends on besides the denial.
pub struct ReplyContext<'a> {
    /// The matched rule's challenges, in order.
    pub challenges: &'a [Challenge],
    /// The rule needs every one of them.
    pub needs_all: bool,
    /// The scheme of the credential that failed, when one did: only its challenge carries
    /// error attributes.
    pub failed: Option<Scheme>,
    /// With a `resource`: the scopes the rule needs, for the 401's Bearer challenge.
    pub scope_hint: Option<&'a str>,
    /// With a `resource` that covers the request: the URL of its metadata document (RFC 9728),
    /// for the token challenges, the body and the HTML page.
    pub resource_metadata: Option<&'a str>,
    /// The request's `x-request-id`.
    pub request_id: Option<&'a str>,
    /// With a sign-in provider on the rule: the address that signs in and comes back here,
    /// for the body's `login` and the page's link.
    pub login: Option<&'a str>,
    /// The client prefers HTML.
    pub html: bool,
    /// `response` settings.
    pub settings: &'a ResponseSettings,
    /// The request is a gRPC call.
    pub grpc: bool,
    /// The body is this JSON-RPC error (an MCP client's), the problem as its `data`.
    pub jsonrpc: Option<&'a JsonRpcError>,
}

/// A JSON-RPC 2.0 error answer, for a refusal an MCP client reads as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonRpcError {
    /// The request's `id` as JSON text; `None` when it could not be read.
    pub id: Option<String>,
    /// The error code.
    pub code: i32,
    /// The error message.
    pub message: &'static str,
}

/// MCP's `HeaderMismatch` (2026-07-28, streamable HTTP transport).
pub const HEADER_MISMATCH: i32 = -32020;

/// Renders the reply for `denial`.
pub fn render(denial: &Denial, ctx: &ReplyContext) -> Reply {
    let (status, title, default_detail) = describe(denial, ctx.needs_all);
    let detail = ctx
        .settings
        .detail
        .get(denial.code())
        .cloned()
        .unwrap_or(default_detail);
    let request_id = ctx.request_id.map(|id| {
        id.char_indices()
            .nth(MAX_REQUEST_ID)
            .map_or(id, |(i, _)| &id[..i])
    });
    let mut headers = Vec::with_capacity(ctx.challenges.len() + 2);
    // An MCP client's JSON-RPC error is JSON whatever the client prefers.
    let html = ctx.html && ctx.jsonrpc.is_none();
    let content_type = match (ctx.jsonrpc, html) {
        (Some(_), _) => "application/json",
        (None, true) => "text/html; charset=utf-8",
        (None, false) => "application/problem+json",
    };
    headers.push(("content-type".to_string(), content_type.to_string()));
    headers.push(("cache-control".to_string(), "no-store".to_string()));
    if let Denial::TooManyFailures(secs)
    | Denial::TemporarilyUnavailable(secs)
    | Denial::ExchangeUnavailable(secs) = denial
    {
        headers.push(("retry-after".to_string(), secs.to_string()));
    }
    // RFC 9449 §9: the nonce to sign, readable by a browser's script too.
    if let Denial::UseDpopNonce(nonce) = denial {
        headers.push(("dpop-nonce".to_string(), nonce.clone()));
        headers.push((
            "access-control-expose-headers".to_string(),
            "DPoP-Nonce, WWW-Authenticate".to_string(),
        ));
    }
    let mut seen: Vec<&str> = Vec::with_capacity(ctx.challenges.len());
    for c in ctx.challenges {
        // 403 is about scope, which only Bearer can express (RFC 6750 §3.1); an access
        // rule's 403 asks for no other credential, so it has no challenge at all; nor does a
        // 503 or a malformed authority, which are not about the credential.
        let no_challenge = matches!(
            denial,
            Denial::AccessDenied(_)
                | Denial::TemporarilyUnavailable(_)
                | Denial::ExchangeUnavailable(_)
                | Denial::BadAuthority
        );
        // A nonce is asked of a DPoP client: that challenge alone, so it does not fall back to
        // a weaker scheme.
        let other_than_dpop = matches!(denial, Denial::UseDpopNonce(_)) && c.scheme != Scheme::DPoP;
        if no_challenge
            || other_than_dpop
            || status == 403 && !c.scheme.is_token()
            || seen.contains(&c.base.as_str())
        {
            continue;
        }
        seen.push(&c.base);
        let mut value = c.base.clone();
        // RFC 9728 §5.1: a token challenge says where the resource's metadata is.
        if let (true, Some(url)) = (c.scheme.is_token(), ctx.resource_metadata) {
            value.push_str(&format!(", resource_metadata=\"{url}\""));
        }
        // MCP: a 401 names the scopes the route needs, so a client asks for them (a 403's
        // `insufficient_scope` names them among its error attributes).
        if let (Scheme::Bearer, 401, Some(scopes)) = (c.scheme, status, ctx.scope_hint) {
            value.push_str(&format!(", scope=\"{}\"", quotable(scopes)));
        }
        if let Some(attrs) = attributes(c.scheme, denial, ctx.failed) {
            value.push_str(", ");
            value.push_str(&attrs);
        }
        headers.push(("www-authenticate".to_string(), value));
    }
    if ctx.grpc {
        // Metadata only: Envoy writes the trailers-only answer (its own content-type).
        headers.retain(|(k, _)| k != "content-type" && k != "cache-control");
        headers.push(("authgate-error".to_string(), denial.code().to_string()));
        if let Some(id) = request_id {
            headers.push(("x-request-id".to_string(), id.to_string()));
        }
        return Reply {
            status,
            headers,
            body: String::new(),
            grpc: Some(GrpcReply {
                code: grpc::status_for(status),
                message: detail,
            }),
        };
    }
    if html {
        let body = html::Page {
            status,
            title,
            detail: &detail,
            code: denial.code(),
            accepted: ctx
                .challenges
                .iter()
                .map(|c| (c.scheme.name(), c.how.as_str()))
                .collect(),
            request_id,
            docs_url: ctx.settings.docs_url.as_deref(),
            resource_metadata: ctx.resource_metadata,
            login: ctx.login,
        }
        .render();
        return Reply {
            status,
            headers,
            body,
            grpc: None,
        };
    }

    let mut body = String::with_capacity(512);
    body.push_str("{\"type\":");
    json::push_str(
        &mut body,
        ctx.settings.docs_url.as_deref().unwrap_or("about:blank"),
    );
    body.push_str(",\"title\":");
    json::push_str(&mut body, title);
    body.push_str(",\"status\":");
    body.push_str(&status.to_string());
    body.push_str(",\"detail\":");
    json::push_str(&mut body, &detail);
    body.push_str(",\"error\":");
    json::push_str(&mut body, denial.code());
    if let Denial::InsufficientScope(scopes) = denial {
        body.push_str(",\"required_scopes\":");
        json::push_str(&mut body, scopes);
    }
    if let Some(id) = request_id {
        body.push_str(",\"request_id\":");
        json::push_str(&mut body, id);
    }
    if let Some(url) = ctx.resource_metadata {
        body.push_str(",\"resource_metadata\":");
        json::push_str(&mut body, url);
    }
    if let Some(url) = ctx.login {
        body.push_str(",\"login\":");
        json::push_str(&mut body, url);
    }
    body.push_str(",\"accepted\":[");
    for (n, c) in ctx.challenges.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push_str("{\"scheme\":");
        json::push_str(&mut body, c.scheme.name());
        body.push_str(",\"how\":");
        json::push_str(&mut body, &c.how);
        body.push('}');
    }
    body.push(']');
    body.push_str(&ctx.settings.extra_json);
    body.push('}');
    if let Some(e) = ctx.jsonrpc {
        body = jsonrpc_error(e, &body);
    }
    Reply {
        status,
        headers,
        body,
        grpc: None,
    }
}

/// `{"jsonrpc":"2.0","id":…,"error":{"code":…,"message":…,"data":<problem>}}`: the refusal
/// as an MCP client parses it, the problem object kept whole as the error's `data`.
fn jsonrpc_error(e: &JsonRpcError, problem: &str) -> String {
    let mut out = String::with_capacity(problem.len() + 128);
    out.push_str("{\"jsonrpc\":\"2.0\"");
    if let Some(id) = &e.id {
        out.push_str(",\"id\":");
        out.push_str(id);
    }
    out.push_str(",\"error\":{\"code\":");
    out.push_str(&e.code.to_string());
    out.push_str(",\"message\":");
    json::push_str(&mut out, e.message);
    out.push_str(",\"data\":");
    out.push_str(problem);
    out.push_str("}}");
    out
}

#[cfg(test)]
mod tests;
