//! One check as the core sees it, and its verdict as Envoy's ext_authz filter takes it: the
//! request's method, path, authority and headers from `attributes.request.http`, the client
//! from `attributes.source`; the driver's effects recorded ([`Fx`]) and turned into an
//! `OkHttpResponse` (identity headers set, client-sent ones removed, answer headers added) or a
//! `DeniedHttpResponse` (authgate's status, challenges and body; a gRPC call's refusal
//! trailers-only).

use authgate::capabilities::LogLevel;
use authgate::driver::{Effects, Side};
use authgate::providers::jwt::forward::lookup;
use authgate::reply::Reply;
use authgate::request::HeaderPairs;
use envoy_types::ext_authz::v3::pb::{
    Address, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction, HeaderValue,
    HeaderValueOption, HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::google::protobuf::{value::Kind, Struct, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// What the core decides on, read from a check.
pub struct Incoming {
    /// The request headers, pseudo-headers first.
    pub headers: Vec<(String, String)>,
    /// The client's `ip:port`.
    pub client: String,
    /// The body Envoy sent (`with_request_body`), if any.
    pub body: Option<Vec<u8>>,
    /// The SHA-256 (hex) of the client certificate, when Envoy sent it
    /// (`include_peer_certificate`).
    pub peer: Option<String>,
    /// Whether the downstream connection is TLS: Envoy's certificate named as the destination,
    /// a server name (`include_tls_session`) or a client certificate.
    pub tls: Option<bool>,
}

/// Reads a check. Envoy puts the pseudo-headers in `headers` too; the typed fields fill any
/// that are missing.
pub fn incoming(check: &CheckRequest) -> Incoming {
    let attrs = check.attributes.as_ref();
    let http = attrs
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref());
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body = None;
    if let Some(h) = http {
        for (name, value) in [
            (":method", &h.method),
            (":path", &h.path),
            (":authority", &h.host),
            (":scheme", &h.scheme),
        ] {
            if !value.is_empty() && !h.headers.contains_key(name) {
                headers.push((name.to_string(), value.clone()));
            }
        }
        let mut rest: Vec<(&String, &String)> = h.headers.iter().collect();
        rest.sort();
        headers.extend(
            rest.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
        );
        if !h.raw_body.is_empty() {
            body = Some(h.raw_body.clone());
        } else if !h.body.is_empty() {
            body = Some(h.body.clone().into_bytes());
        }
    }
    let client = attrs
        .and_then(|a| a.source.as_ref())
        .and_then(|s| s.address.as_ref())
        .and_then(|a| a.address.as_ref())
        .map(|a| match a {
            Address::SocketAddress(s) => match &s.port_specifier {
                // An IPv6 address in brackets, so the throttle and the audit line read the
                // address apart from the port (a slot per source port would be no throttle).
                Some(envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(p))
                    if s.address.contains(':') =>
                {
                    format!("[{}]:{p}", s.address)
                }
                Some(envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(p)) => {
                    format!("{}:{p}", s.address)
                }
                _ => s.address.clone(),
            },
            _ => String::new(),
        })
        .unwrap_or_default();
    let peer = attrs
        .and_then(|a| a.source.as_ref())
        .and_then(|s| certificate_sha256(&s.certificate));
    // Envoy names its own certificate as the destination's principal on a TLS connection (its
    // URI SAN, else its subject), and sends the server name and client certificate there; a
    // check carries `tls_session` even for plaintext (Envoy 1.40), so its presence says nothing.
    let principal = attrs
        .and_then(|a| a.destination.as_ref())
        .is_some_and(|d| !d.principal.is_empty());
    let sni = attrs
        .and_then(|a| a.tls_session.as_ref())
        .is_some_and(|t| !t.sni.is_empty());
    let tls = Some(principal || sni || peer.is_some());
    Incoming {
        headers,
        client,
        body,
        peer,
        tls,
    }
}

/// The SHA-256 (lower-case hex) of the DER of the first certificate in `pem`, as Envoy sends it
/// in `source.certificate` (URL-encoded), the digest Envoy's own
/// `connection.sha256_peer_certificate_digest` gives the filter.
pub fn certificate_sha256(url_encoded_pem: &str) -> Option<String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let pem = percent_decode(url_encoded_pem)?;
    let body = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)?
        .split("-----END CERTIFICATE-----")
        .next()?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let digest = sha2::Sha256::digest(&der);
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

impl Incoming {
    /// The headers as the core reads them.
    pub fn pairs(&self) -> HeaderPairs {
        HeaderPairs(
            self.headers
                .iter()
                .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
                .collect(),
        )
    }
}

/// The driver's effects on one check, recorded until its verdict.
pub struct Fx {
    pub request: HashMap<String, String>,
    pub body: Option<Vec<u8>>,
    /// Request headers to set (`Some`) or remove (`None`), in order.
    pub edits: Vec<(String, Option<String>)>,
    pub reply: Option<Reply>,
    /// What a pass returns as dynamic metadata: identity, provider, rule, scopes, the chosen
    /// claims, and in report mode the error enforcing would have answered.
    pub metadata: Vec<(&'static str, Value)>,
    /// The claims to return (`--metadata-claim`).
    claims: Arc<[String]>,
    /// Whether a pass was carried out: a check answered with neither a pass nor a reply is
    /// refused, never let through.
    passed: bool,
}

impl Fx {
    pub fn new(incoming: &Incoming, claims: Arc<[String]>) -> Fx {
        Fx {
            claims,
            request: incoming.headers.iter().cloned().collect(),
            body: incoming.body.clone(),
            edits: Vec::new(),
            reply: None,
            metadata: Vec::new(),
            passed: false,
        }
    }

    /// The answer to Envoy: a denial when a reply was sent, a pass with the edits and the
    /// answer headers (`answer`: a DPoP server nonce) when one was carried out, and otherwise
    /// a 500: no verdict is no entry.
    pub fn response(self, answer: Vec<(String, String)>) -> CheckResponse {
        match (self.reply, self.passed) {
            (Some(r), _) => denied(&r),
            (None, true) => ok(self.edits, answer, self.metadata),
            (None, false) => undecided(),
        }
    }
}

/// A claim's JSON value as a protobuf `Value`, for the metadata.
fn protobuf(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    let kind = match v {
        J::Null => Kind::NullValue(0),
        J::Bool(b) => Kind::BoolValue(*b),
        J::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        J::String(s) => Kind::StringValue(s.clone()),
        J::Array(items) => Kind::ListValue(envoy_types::pb::google::protobuf::ListValue {
            values: items.iter().map(protobuf).collect(),
        }),
        J::Object(o) => Kind::StructValue(Struct {
            fields: o.iter().map(|(k, v)| (k.clone(), protobuf(v))).collect(),
        }),
    };
    Value { kind: Some(kind) }
}

fn string(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.to_string())),
    }
}

fn header(key: &str, value: &str, overwrite: bool) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_string(),
            value: value.to_string(),
            ..HeaderValue::default()
        }),
        append_action: match overwrite {
            true => HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            false => HeaderAppendAction::AppendIfExistsOrAdd as i32,
        },
        ..HeaderValueOption::default()
    }
}

fn ok(
    edits: Vec<(String, Option<String>)>,
    answer: Vec<(String, String)>,
    metadata: Vec<(&'static str, Value)>,
) -> CheckResponse {
    let mut pass = OkHttpResponse::default();
    // Envoy removes `headers_to_remove` after it sets `headers`: a client's copy of a header the
    // verdict sets (removed, then set) is replaced by the set alone (overwrite).
    for (i, (name, value)) in edits.iter().enumerate() {
        match value {
            Some(v) => pass.headers.push(header(name, v, true)),
            None if edits[i + 1..].iter().any(|(n, v)| n == name && v.is_some()) => {}
            None => pass.headers_to_remove.push(name.clone()),
        }
    }
    pass.response_headers_to_add = answer.iter().map(|(k, v)| header(k, v, false)).collect();
    // Envoy keeps it under the ext_authz filter's name, for RBAC, access logs and rate limits.
    let fields = metadata
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    CheckResponse {
        dynamic_metadata: Some(Struct { fields }),
        status: Some(envoy_types::pb::google::rpc::Status {
            code: 0,
            ..Default::default()
        }),
        http_response: Some(HttpResponse::OkResponse(pass)),
    }
}

/// A check the driver left with no verdict (it cannot today): refused with a 500, as the
/// filters answer a panic.
fn undecided() -> CheckResponse {
    super::host::log(
        LogLevel::Error,
        "authgate: a check ended with no verdict; refused (500)",
    );
    CheckResponse {
        status: Some(envoy_types::pb::google::rpc::Status {
            code: 13,
            ..Default::default()
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus { code: 500 }),
            ..DeniedHttpResponse::default()
        })),
        ..CheckResponse::default()
    }
}

fn denied(r: &Reply) -> CheckResponse {
    let (status, headers, body) = authgate::reply::trailers_only(r);
    let deny = DeniedHttpResponse {
        status: Some(HttpStatus {
            code: i32::from(status),
        }),
        headers: headers.iter().map(|(k, v)| header(k, v, false)).collect(),
        body: body.to_string(),
    };
    CheckResponse {
        status: Some(envoy_types::pb::google::rpc::Status {
            code: authgate::reply::grpc_status_for(r.status) as i32,
            ..Default::default()
        }),
        http_response: Some(HttpResponse::DeniedResponse(deny)),
        ..CheckResponse::default()
    }
}

impl Effects for Fx {
    fn request_header(&self, name: &str) -> Option<String> {
        self.request.get(name).cloned()
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) -> bool {
        self.edits
            .push((name.to_string(), value.map(str::to_string)));
        true
    }

    /// A check has no answer to read: the ext_authz filter decides before the upstream.
    fn response_header(&self, _name: &str) -> Option<String> {
        None
    }

    fn add_response_header(&mut self, _name: &str, _value: &str) -> bool {
        false
    }

    fn set_response_header(&mut self, _name: &str, _value: Option<&str>) -> bool {
        false
    }

    fn send(&mut self, reply: &Reply) {
        self.reply = Some(reply.clone());
    }

    fn allowed(&mut self, allowed: &authgate::engine::Allowed) {
        self.passed = true;
        let mut m = vec![("rule", string(&allowed.rule))];
        m.extend(allowed.identity.as_deref().map(|i| ("identity", string(i))));
        m.extend(allowed.provider.as_deref().map(|p| ("provider", string(p))));
        if allowed.provider.is_some() {
            let scopes = allowed.scopes.iter().map(|s| string(s)).collect();
            let list =
                Kind::ListValue(envoy_types::pb::google::protobuf::ListValue { values: scopes });
            m.push(("scopes", Value { kind: Some(list) }));
        }
        if let (Some(all), false) = (&allowed.claims, self.claims.is_empty()) {
            let chosen = self
                .claims
                .iter()
                .filter_map(|name| Some((name.clone(), protobuf(lookup(all, name)?))))
                .collect();
            m.push((
                "claims",
                Value {
                    kind: Some(Kind::StructValue(Struct { fields: chosen })),
                },
            ));
        }
        m.extend(
            allowed
                .would_deny
                .as_ref()
                .map(|w| ("would_deny", string(w.denial.code()))),
        );
        self.metadata = m;
    }

    /// The check is answered when the verdict is carried out: nothing to resume.
    fn resume(&mut self) {}

    /// The worker thread keeps a held check and answers it when its verdict comes.
    fn wait(&mut self) -> bool {
        true
    }

    fn body_size(&self, side: Side) -> usize {
        match side {
            Side::Request => self.body.as_ref().map_or(0, Vec::len),
            Side::Response => 0,
        }
    }

    fn body(&self, side: Side) -> Option<Vec<u8>> {
        match side {
            Side::Request => Some(self.body.clone().unwrap_or_default()),
            Side::Response => None,
        }
    }

    fn replace_body(&mut self, _side: Side, _held: usize, _bytes: &[u8]) -> bool {
        false
    }

    fn log(&self, level: LogLevel, line: &str) {
        super::host::log(level, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use sha2::Digest as _;

    fn check_from(address: &str, port: u32) -> CheckRequest {
        use envoy_types::pb::envoy::config::core::v3::{
            socket_address::PortSpecifier, Address as A, SocketAddress,
        };
        use envoy_types::pb::envoy::service::auth::v3::{
            attribute_context::Peer, AttributeContext,
        };
        CheckRequest {
            attributes: Some(AttributeContext {
                source: Some(Peer {
                    address: Some(A {
                        address: Some(Address::SocketAddress(SocketAddress {
                            address: address.into(),
                            port_specifier: Some(PortSpecifier::PortValue(port)),
                            ..SocketAddress::default()
                        })),
                    }),
                    ..Peer::default()
                }),
                ..AttributeContext::default()
            }),
        }
    }

    #[test]
    fn an_ipv6_client_is_bracketed_apart_from_its_port() {
        assert_eq!(
            incoming(&check_from("2001:db8::1", 54321)).client,
            "[2001:db8::1]:54321"
        );
        assert_eq!(
            incoming(&check_from("10.0.0.7", 4000)).client,
            "10.0.0.7:4000"
        );
    }

    #[test]
    fn a_check_left_with_no_verdict_is_refused() {
        let fx = Fx::new(
            &incoming(&check_from("10.0.0.7", 4000)),
            Arc::from(Vec::new()),
        );
        let r = fx.response(Vec::new());
        let Some(HttpResponse::DeniedResponse(d)) = r.http_response else {
            panic!("{r:?}")
        };
        assert_eq!(d.status.map(|s| s.code), Some(500));
        assert_ne!(r.status.map(|s| s.code), Some(0));
    }

    #[test]
    fn the_certificate_envoy_sends_is_hashed_as_its_der() {
        let der: Vec<u8> = (0u8..200).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n{}\n-----END CERTIFICATE-----\n",
            &b64[..64],
            &b64[64..]
        );
        let encoded: String = pem
            .bytes()
            .map(|c| match c {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (c as char).to_string()
                }
                _ => format!("%{c:02X}"),
            })
            .collect();
        let want: String = sha2::Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(certificate_sha256(&encoded), Some(want));
        assert_eq!(certificate_sha256(""), None);
        assert_eq!(certificate_sha256("%zz"), None);
    }
}
