//! Audit lines: one per refusal (or would-be refusal in report mode), and one per pass when
//! `log_allowed` is on. Built from the decision and a few request facts; never from the
//! credential itself, only its fingerprint.

mod limiter;

pub use limiter::AuditLimiter;

use crate::engine::{Allowed, Refusal};
use crate::request::path_only;

/// Request facts an audit line shows.
pub struct Facts<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path`; the query string is dropped (it may hold a credential).
    pub path_and_query: &'a str,
    /// The client's address, as the proxy reports it.
    pub client: &'a str,
    /// `x-request-id`.
    pub request_id: &'a str,
    /// The MCP call in the body, when a rule read it.
    pub call: Option<&'a crate::mcp::Call>,
}

impl<'a> Facts<'a> {
    /// The MCP call `view` carries, once its body was read.
    pub fn call_of(view: &'a dyn crate::request::RequestView) -> Option<&'a crate::mcp::Call> {
        match view.mcp() {
            Some(Ok(crate::mcp::Message::Call(c))) => Some(c),
            _ => None,
        }
    }
}

/// Longest value written into a line.
const MAX_VALUE: usize = 256;

/// `"..."` with quotes, backslashes and control characters escaped, cut to a bounded length.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_VALUE) + 2);
    out.push('"');
    for (n, c) in s.chars().enumerate() {
        if n == MAX_VALUE {
            out.push_str("...");
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn common(f: &Facts) -> String {
    let mut line = format!(
        "method={} path={} client={} request_id={}",
        quoted(f.method),
        quoted(path_only(f.path_and_query)),
        quoted(f.client),
        quoted(f.request_id)
    );
    if let Some(call) = f.call {
        line.push_str(" mcp_method=");
        line.push_str(&quoted(&call.method));
        if let Some(name) = &call.name {
            line.push_str(" mcp_name=");
            line.push_str(&quoted(name));
        }
    }
    line
}

/// The line for a refusal; `reported` when report mode let it through.
pub fn denied_line(d: &Refusal, f: &Facts, reported: bool) -> String {
    format!(
        "authgate: {} status={} error={} rule={} provider={} {} credential={} reason={}",
        if reported {
            "would deny (report mode)"
        } else {
            "denied"
        },
        d.reply.status,
        d.denial.code(),
        d.rule,
        d.provider.as_deref().unwrap_or("-"),
        common(f),
        d.fingerprint.as_deref().unwrap_or("-"),
        quoted(&d.denial.to_string())
    )
}

/// The line for a pass.
/// The end of a sign-in: who signed in, or why not (never a code, token or cookie).
pub fn sign_in_line(provider: &str, outcome: &Result<String, String>, f: &Facts) -> String {
    match outcome {
        Ok(subject) => format!(
            "authgate: signed in provider={provider} identity={} {}",
            quoted(subject),
            common(f)
        ),
        Err(why) => format!(
            "authgate: sign-in failed provider={provider} reason={} {}",
            quoted(why),
            common(f)
        ),
    }
}

pub fn allowed_line(a: &Allowed, f: &Facts) -> String {
    format!(
        "authgate: allowed rule={} provider={} identity={} {}",
        a.rule,
        a.provider.as_deref().unwrap_or("-"),
        quoted(a.identity.as_deref().unwrap_or("-")),
        common(f)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Decision, Engine};
    use crate::request::HeaderList;

    #[test]
    fn lines_never_hold_the_credential_or_query() {
        let e = Engine::from_json(
            br#"{"providers": {"k": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}]}}, "log_allowed": true}"#,
            [1; 32],
        )
        .unwrap();
        let facts = Facts {
            method: "GET",
            path_and_query: "/orders?api_key=leak",
            client: "10.0.0.1:5555",
            request_id: "r\"1\n",
            call: None,
        };
        let Decision::Deny(d) = e.decide(
            &HeaderList::new("GET", "/orders", &[("x-api-key", "sekrit-123")]),
            0,
        ) else {
            panic!()
        };
        let line = denied_line(&d, &facts, false);
        assert!(
            line.starts_with(
                "authgate: denied status=401 error=invalid_credentials rule=default provider=k "
            ),
            "{line}"
        );
        assert!(
            line.contains("path=\"/orders\"") && !line.contains("leak"),
            "{line}"
        );
        assert!(line.contains("request_id=\"r\\\"1\\x0a\""), "{line}");
        assert!(!line.contains("sekrit"), "{line}");
        let fp = d.fingerprint.clone().unwrap();
        assert_eq!(fp.len(), 6);
        let Decision::Deny(again) = e.decide(
            &HeaderList::new("GET", "/", &[("x-api-key", "sekrit-123")]),
            0,
        ) else {
            panic!()
        };
        assert_eq!(
            again.fingerprint,
            Some(fp),
            "the same credential, the same fingerprint"
        );
        let Decision::Allow(a) = e.decide(&HeaderList::new("GET", "/", &[("x-api-key", "k-1")]), 0)
        else {
            panic!()
        };
        let line = allowed_line(&a, &facts);
        assert!(
            line.starts_with(
                "authgate: allowed rule=default provider=k identity=\"acme\" method=\"GET\""
            ),
            "{line}"
        );
        let call = crate::mcp::Call {
            method: "tools/call".into(),
            name: Some("delete_repo\"".into()),
            id: None,
        };
        let line = allowed_line(
            &a,
            &Facts {
                call: Some(&call),
                ..facts
            },
        );
        assert!(
            line.ends_with(r#" mcp_method="tools/call" mcp_name="delete_repo\"""#),
            "the tool is named, quoted: {line}"
        );
    }
}
