//! The page a person in a browser gets instead of problem+json: same status and challenges,
//! the same facts in plain words, self-contained (no scripts, styles inline, nothing fetched).

/// Whether `Accept` prefers `text/html` to JSON (RFC 9110 §12.5.1 quality values). Only an
/// explicit `text/html` counts, so `*/*` clients (curl, most libraries) keep getting JSON.
pub fn prefers_html(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let (mut html, mut json) = (None::<f32>, 0f32);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|v| v.trim().parse::<f32>().ok())
            })
            .next()
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = Some(html.map_or(q, |h| h.max(q))),
            "application/json" | "application/problem+json" | "application/*" | "*/*" => {
                json = json.max(q)
            }
            _ => {}
        }
    }
    html.is_some_and(|h| h > 0.0 && h > json)
}

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page.
pub struct Page<'a> {
    /// HTTP status.
    pub status: u16,
    /// Status phrase.
    pub title: &'a str,
    /// What happened, in plain words.
    pub detail: &'a str,
    /// The error code.
    pub code: &'a str,
    /// (scheme, how) for each accepted credential.
    pub accepted: Vec<(&'a str, &'a str)>,
    /// The request id.
    pub request_id: Option<&'a str>,
    /// A documentation link.
    pub docs_url: Option<&'a str>,
    /// The protected resource metadata URL (RFC 9728), linked for people too.
    pub resource_metadata: Option<&'a str>,
    /// Where a person signs in, when the route takes a session.
    pub login: Option<&'a str>,
}

impl Page<'_> {
    /// Renders the page.
    pub fn render(&self) -> String {
        let mut items = String::new();
        for (scheme, how) in &self.accepted {
            items.push_str(&format!(
                "<li><strong>{}</strong>: <code>{}</code></li>",
                escape(scheme),
                escape(how)
            ));
        }
        let how = if items.is_empty() {
            String::new()
        } else {
            format!("<h2>How to authenticate</h2><ul>{items}</ul>")
        };
        let docs = self.docs_url.map_or(String::new(), |u| {
            format!(
                "<p>More about signing in: <a href=\"{0}\">{0}</a></p>",
                escape(u)
            )
        });
        let sign_in = self.login.map_or(String::new(), |u| {
            format!(
                "<p><a href=\"{}\"><strong>Sign in</strong></a></p>",
                escape(u)
            )
        });
        let docs = sign_in
            + &docs
            + &self.resource_metadata.map_or(String::new(), |u| {
                format!(
                    "<p>Where to get a token: <a href=\"{0}\">{0}</a> (OAuth protected resource metadata)</p>",
                    escape(u)
                )
            });
        let rid = self.request_id.map_or(String::new(), |r| {
            format!(
                "<p class=\"meta\">Request ID: <code>{}</code></p>",
                escape(r)
            )
        });
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{status} {title}</title><style>\
             body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}}\
             h1{{font-size:1.6rem}}code{{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}}\
             .meta{{color:#666;font-size:.9rem}}</style></head><body>\
             <h1>{status} {title}</h1><p>{detail}</p>{how}{docs}\
             <p class=\"meta\">Error: <code>{code}</code></p>{rid}</body></html>",
            status = self.status,
            title = escape(self.title),
            detail = escape(self.detail),
            code = escape(self.code),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_table() {
        let cases = [
            (None, false),
            (Some("*/*"), false),
            (Some("application/json"), false),
            (Some("text/html"), true),
            (
                Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                true,
            ),
            (Some("application/json, text/html;q=0.5"), false),
            (Some("text/html;q=0, */*"), false),
            (Some("TEXT/HTML"), true),
        ];
        for (accept, want) in cases {
            assert_eq!(prefers_html(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn page_escapes() {
        let p = Page {
            status: 401,
            title: "Unauthorized",
            detail: "<script>x</script>",
            code: "missing_credentials",
            accepted: vec![("Basic", "Authorization: Basic <base64>")],
            request_id: Some("\"><img>"),
            docs_url: None,
            resource_metadata: None,
            login: None,
        }
        .render();
        assert!(!p.contains("<script>") && !p.contains("<img>"));
        assert!(p.contains("&lt;base64&gt;"));
    }
}
