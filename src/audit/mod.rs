//! Audit lines: one per refusal (or would-be refusal in report mode), and one per pass when
//! `log_allowed` is on. Built from the decision and a few request facts; never from the
//! credential itself, only its fingerprint.

mod limiter;
mod line;

pub use limiter::AuditLimiter;
pub use line::AuditFormat;
use line::{Line, Value};
use std::borrow::Cow;

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

/// The fields every line ends with: the request's method, path (no query), client, request
/// id, and the MCP call when a rule read one.
fn common<'a>(line: &mut Line<'a>, f: &Facts<'a>) {
    line.push("method", text(f.method));
    line.push("path", text(path_only(f.path_and_query)));
    line.push("client", text(f.client));
    line.push("request_id", text(f.request_id));
    if let Some(call) = f.call {
        line.push("mcp_method", text(&call.method));
        if let Some(name) = &call.name {
            line.push("mcp_name", text(name));
        }
    }
}

fn text(s: &str) -> Value<'_> {
    Value::Text(Some(Cow::Borrowed(s)))
}

fn word(s: Option<&str>) -> Value<'_> {
    Value::Word(s.map(Cow::Borrowed))
}

/// The line for a refusal; `reported` when report mode let it through.
pub fn denied_line(d: &Refusal, f: &Facts, reported: bool, format: AuditFormat) -> String {
    let mut line = if reported {
        Line::new("would_deny", "would deny (report mode)")
    } else {
        Line::new("denied", "denied")
    }
    .with("status", Value::Num(u64::from(d.reply.status)))
    .with("error", word(Some(d.denial.code())))
    .with("rule", word(Some(&d.rule)))
    .with("provider", word(d.provider.as_deref()));
    common(&mut line, f);
    line.with("credential", word(d.fingerprint.as_deref()))
        .with("reason", Value::Text(Some(d.denial.to_string().into())))
        .render(format)
}

/// The end of a sign-in: who signed in, or why not (never a code, token or cookie).
pub fn sign_in_line(
    provider: &str,
    outcome: &Result<String, String>,
    f: &Facts,
    format: AuditFormat,
) -> String {
    let mut line = match outcome {
        Ok(subject) => Line::new("signed_in", "signed in")
            .with("provider", word(Some(provider)))
            .with("identity", text(subject)),
        Err(why) => Line::new("sign_in_failed", "sign-in failed")
            .with("provider", word(Some(provider)))
            .with("reason", text(why)),
    };
    common(&mut line, f);
    line.render(format)
}

/// The tick's summary of `n` lines the limit left out.
pub fn suppressed_line(n: u64, per_second: u32, format: AuditFormat) -> String {
    match format {
        AuditFormat::Text => format!(
            "authgate: {n} audit lines left out in the last second (audit_lines_per_second = {per_second})"
        ),
        AuditFormat::Json => Line::new("suppressed", "")
            .with("count", Value::Num(n))
            .with("audit_lines_per_second", Value::Num(u64::from(per_second)))
            .render(format),
    }
}

/// The line for a pass.
pub fn allowed_line(a: &Allowed, f: &Facts, format: AuditFormat) -> String {
    let mut line = Line::new("allowed", "allowed")
        .with("rule", word(Some(&a.rule)))
        .with("provider", word(a.provider.as_deref()))
        .with(
            "identity",
            Value::Text(a.identity.as_deref().map(Cow::Borrowed)),
        );
    common(&mut line, f);
    line.render(format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Decision, Engine};
    use crate::request::HeaderList;

    /// An engine with one key provider, a request's facts, and the refusal of a wrong key.
    fn refused() -> (Engine, Facts<'static>, Refusal) {
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
        (e, facts, *d)
    }

    #[test]
    fn lines_never_hold_the_credential_or_query() {
        let (e, facts, d) = refused();
        let line = denied_line(&d, &facts, false, AuditFormat::Text);
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
        let line = allowed_line(&a, &facts, AuditFormat::Text);
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
            AuditFormat::Text,
        );
        assert!(
            line.ends_with(r#" mcp_method="tools/call" mcp_name="delete_repo\"""#),
            "the tool is named, quoted: {line}"
        );
        let json: serde_json::Value = serde_json::from_str(&allowed_line(
            &a,
            &Facts {
                call: Some(&call),
                ..facts
            },
            AuditFormat::Json,
        ))
        .unwrap();
        assert_eq!(json["mcp_name"], "delete_repo\"");
    }

    #[test]
    fn json_lines_carry_the_same_fields_typed() {
        let (e, facts, d) = refused();
        let line = denied_line(&d, &facts, false, AuditFormat::Json);
        assert!(!line.contains("sekrit") && !line.contains("leak"), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "authgate": "denied", "status": 401, "error": "invalid_credentials",
                "rule": "default", "provider": "k", "method": "GET", "path": "/orders",
                "client": "10.0.0.1:5555", "request_id": "r\"1\n",
                "credential": d.fingerprint.as_deref().unwrap(),
                "reason": "invalid credentials: unknown API key",
            })
        );
        let v: serde_json::Value =
            serde_json::from_str(&denied_line(&d, &facts, true, AuditFormat::Json)).unwrap();
        assert_eq!(v["authgate"], "would_deny");
        let Decision::Deny(d) = e.decide(&HeaderList::new("GET", "/", &[]), 0) else {
            panic!()
        };
        let v: serde_json::Value =
            serde_json::from_str(&denied_line(&d, &facts, false, AuditFormat::Json)).unwrap();
        assert_eq!(
            (&v["provider"], &v["credential"]),
            (&serde_json::Value::Null, &serde_json::Value::Null)
        );
        let ok: Result<String, String> = Ok("dora".into());
        let v: serde_json::Value =
            serde_json::from_str(&sign_in_line("web", &ok, &facts, AuditFormat::Json)).unwrap();
        assert_eq!(
            (&v["authgate"], &v["identity"]),
            (&"signed_in".into(), &"dora".into())
        );
        let v: serde_json::Value =
            serde_json::from_str(&suppressed_line(7, 100, AuditFormat::Json)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"authgate": "suppressed", "count": 7, "audit_lines_per_second": 100})
        );
        assert_eq!(
            suppressed_line(2, 1, AuditFormat::Text),
            "authgate: 2 audit lines left out in the last second (audit_lines_per_second = 1)"
        );
    }
}
