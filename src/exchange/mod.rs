//! Token exchange (RFC 8693, issue 38): a token minted by the authorization server for the
//! upstream, in place of the caller's. This part reads the token endpoint's answer; the request,
//! the cache and the rule's configuration come with the rest of the issue.

pub mod answer;

#[cfg(test)]
mod tests;
