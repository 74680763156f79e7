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
}
