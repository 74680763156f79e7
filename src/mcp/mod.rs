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

/// Reads `body` (`None`: longer than [`jsonrpc::MAX_BODY`]) with the mirrored headers
/// `Mcp-Method` and `Mcp-Name` it must agree with.
pub fn read(body: Option<&[u8]>, method: Option<&str>, name: Option<&str>) -> Read {
    let message = jsonrpc::parse(body.ok_or(BodyError::TooLarge)?)?;
    jsonrpc::check_headers(&message, method, name)?;
    Ok(message)
}

/// Whether a `content-type` may carry a JSON-RPC message: `application/json` or a `+json`
/// type, in any case, with any parameters. An absent one may too: a server that reads any
/// body must not be handed one no rule has read.
pub fn may_be_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
            && essence.to_ascii_lowercase().starts_with("application/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_content_types() {
        for (ct, want) in [
            (Some("application/json"), true),
            (Some("Application/JSON; charset=utf-8"), true),
            (Some("application/json-rpc+json"), true),
            (None, true),
            (Some("text/plain"), false),
            (Some("application/x-www-form-urlencoded"), false),
            (Some("text/x+json"), false),
            (Some("application/jsonx"), false),
        ] {
            assert_eq!(super::may_be_json(ct), want, "{ct:?}");
        }
    }
}
