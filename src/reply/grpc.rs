//! Refusals as gRPC clients understand them: a gRPC request (`content-type:
//! application/grpc`, `+proto`, `+json`) gets a trailers-only answer whose `grpc-status` says
//! what the HTTP status would (401 → UNAUTHENTICATED, 403 → PERMISSION_DENIED, …), whose
//! `grpc-message` is the plain `detail` sentence (Envoy percent-encodes it), and whose metadata
//! carries the error code, the request id and the challenges.

/// A gRPC answer: the status code and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcReply {
    /// `grpc-status`.
    pub code: u32,
    /// `grpc-message`, before Envoy's percent-encoding.
    pub message: String,
}

/// A reply as a host sends it when it cannot hand Envoy a gRPC status of its own (the native
/// module's local reply, the ext_authz service's denied answer): a gRPC reply trailers-only,
/// as Envoy's own gRPC local replies are (HTTP 200, `application/grpc`, `grpc-status`,
/// `grpc-message`, no body), any other as it is.
pub fn trailers_only(r: &super::Reply) -> (u16, Vec<(String, String)>, &str) {
    match &r.grpc {
        Some(g) => {
            let mut headers: Vec<(String, String)> = r
                .headers
                .iter()
                .filter(|(k, _)| k != "content-type")
                .cloned()
                .collect();
            headers.extend([
                ("content-type".into(), "application/grpc".into()),
                ("grpc-status".into(), g.code.to_string()),
                ("grpc-message".into(), g.message.clone()),
            ]);
            (200, headers, "")
        }
        None => (r.status, r.headers.clone(), r.body.as_str()),
    }
}

/// Whether a request with this `content-type` is a gRPC call.
pub fn is_grpc(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|c| {
        let media = c.split(';').next().unwrap_or("").trim();
        media.eq_ignore_ascii_case("application/grpc")
            || media
                .get(..17)
                .is_some_and(|p| p.eq_ignore_ascii_case("application/grpc+"))
    })
}

/// The gRPC status for an HTTP status (gRPC's own HTTP mapping for these, and 400 as
/// INVALID_ARGUMENT rather than INTERNAL: a malformed credential is the caller's error).
pub fn status_for(http: u16) -> u32 {
    match http {
        400 => 3,  // INVALID_ARGUMENT
        401 => 16, // UNAUTHENTICATED
        403 => 7,  // PERMISSION_DENIED
        429 => 8,  // RESOURCE_EXHAUSTED
        503 => 14, // UNAVAILABLE
        500 => 13, // INTERNAL
        _ => 2,    // UNKNOWN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_requests_and_their_codes() {
        for (ct, want) in [
            (Some("application/grpc"), true),
            (Some("application/grpc+proto"), true),
            (Some("Application/GRPC+json; charset=utf-8"), true),
            (Some("application/grpc-web"), false),
            (Some("application/json"), false),
            (None, false),
        ] {
            assert_eq!(is_grpc(ct), want, "{ct:?}");
        }
        let codes: Vec<u32> = [400, 401, 403, 429, 503, 500]
            .into_iter()
            .map(status_for)
            .collect();
        assert_eq!(codes, [3, 16, 7, 8, 14, 13]);
    }

    #[test]
    fn a_grpc_reply_goes_trailers_only_and_any_other_as_it_is() {
        let http = crate::reply::Reply {
            status: 401,
            headers: vec![("www-authenticate".into(), "Basic realm=\"r\"".into())],
            body: "{}".into(),
            grpc: None,
        };
        assert_eq!(trailers_only(&http), (401, http.headers.clone(), "{}"));
        let grpc = crate::reply::Reply {
            headers: vec![("content-type".into(), "application/problem+json".into())],
            grpc: Some(GrpcReply {
                code: 16,
                message: "no credentials were sent".into(),
            }),
            ..http.clone()
        };
        let (status, headers, body) = trailers_only(&grpc);
        assert_eq!((status, body), (200, ""));
        let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["content-type", "grpc-status", "grpc-message"]);
        assert_eq!(headers[0].1, "application/grpc");
        assert_eq!(headers[1].1, "16");
    }
}
