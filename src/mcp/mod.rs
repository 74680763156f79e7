//! MCP (Model Context Protocol) requests as rules see them: the JSON-RPC request in a body
//! ([`jsonrpc`]), the `Mcp-Method` / `Mcp-Name` headers that mirror it and must agree with it,
//! and tool, prompt and resource names matched with `*` wildcards. Groundwork for the MCP
//! gateway (issue 25): nothing reads bodies on the request path yet.

pub mod jsonrpc;
