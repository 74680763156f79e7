//! MCP (Model Context Protocol) requests as rules see them: the JSON-RPC message in a body
//! ([`jsonrpc`]), the `Mcp-Method` / `Mcp-Name` headers that mirror it and must agree with it,
//! what a rule's `match.mcp` asks of it ([`select`]), and the list answers (`tools/list`,
//! `prompts/list`, `resources/list`) cut down to what the caller may use ([`lists`], [`sse`]).

pub mod answer;
pub mod jsonrpc;
pub mod lists;
pub mod select;
pub mod sse;

pub use jsonrpc::{BodyError, Call, Message};

/// A body as the rules read it: one message, or why it is not one.
pub type Read = Result<Message, BodyError>;

/// The request headers a body is read with: `content-encoding`, and the mirrored
/// `Mcp-Method` and `Mcp-Name` it must agree with.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyHeaders<'a> {
    /// `content-encoding`: a compressed body is not read (a server would inflate it).
    pub encoding: Option<&'a str>,
    /// `Mcp-Method`.
    pub method: Option<&'a str>,
    /// `Mcp-Name`.
    pub name: Option<&'a str>,
}

/// Reads `body` (`None`: longer than [`jsonrpc::MAX_BODY`]) as its headers say.
pub fn read(body: Option<&[u8]>, h: BodyHeaders) -> Read {
    if h.encoding
        .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"))
    {
        return Err(BodyError::Compressed);
    }
    let message = jsonrpc::parse(body.ok_or(BodyError::TooLarge)?)?;
    jsonrpc::check_headers(&message, h.method, h.name)?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_body_is_not_read() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        for (encoding, ok) in [
            (None, true),
            (Some("identity"), true),
            (Some("gzip"), false),
            (Some("br"), false),
        ] {
            let h = BodyHeaders {
                encoding,
                ..BodyHeaders::default()
            };
            assert_eq!(read(Some(body), h).is_ok(), ok, "{encoding:?}");
        }
    }
}
