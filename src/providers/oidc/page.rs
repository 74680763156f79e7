//! The small pages sign-in shows a person (a refusal, "signed out", "sign out?", "signed
//! in"), and `set-cookie` headers from cookie lines: one shape for all of them, never cached.

use crate::reply::html::escape;
use crate::reply::Reply;

/// `set-cookie` headers for `lines`.
pub fn set_cookies(lines: Vec<String>) -> impl Iterator<Item = (String, String)> {
    lines.into_iter().map(|l| ("set-cookie".to_string(), l))
}

/// An HTML page: `title` (escaped here), `head` and `body` as given (already escaped),
/// with `cookies` set.
pub fn html(status: u16, title: &str, head: &str, body: &str, cookies: Vec<String>) -> Reply {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{head}<title>{}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">{body}</body></html>",
        escape(title)
    );
    let mut headers = vec![
        (
            "content-type".to_string(),
            "text/html; charset=utf-8".to_string(),
        ),
        ("cache-control".to_string(), "no-store".to_string()),
    ];
    headers.extend(set_cookies(cookies));
    Reply {
        status,
        headers,
        body,
        grpc: None,
    }
}
