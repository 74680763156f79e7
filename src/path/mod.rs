//! A request path in its normal form, the one rules match on: unreserved characters
//! percent-decoded and other escapes upper-cased (RFC 3986 §6.2.2.1–2), runs of `/` merged,
//! dot segments removed (§5.2.4). Envoy normalises only when told to (`normalize_path`,
//! `merge_slashes`), and an upstream may read `/%61dmin`, `//admin` or `/x/../admin` as
//! `/admin` whatever Envoy did; a gate must match the path the upstream will serve.
//!
//! Some paths have no one reading: an encoded `/` or `\`, a raw `\`, a `%` that starts no
//! escape. One upstream reads `/a%2Fb` as one segment, another as two; those are refused
//! where a rule matches on the path, never guessed at.

use std::borrow::Cow;
use std::fmt;

/// Why a path has no one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unclear {
    /// `%2F` or `%5C`: a separator some upstreams decode and others do not.
    EncodedSeparator,
    /// A raw `\`, which some servers read as `/`.
    Backslash,
    /// A `%` not followed by two hexadecimal digits.
    BadEscape,
}

impl Unclear {
    /// The reason as the refusal's `detail` words it (a fixed phrase).
    pub fn reason(self) -> &'static str {
        match self {
            Unclear::EncodedSeparator => {
                "the path holds an encoded `/` or `\\`, which servers read in different ways"
            }
            Unclear::Backslash => "the path holds a `\\`, which some servers read as `/`",
            Unclear::BadEscape => "the path holds a `%` that starts no percent-encoding",
        }
    }
}

impl fmt::Display for Unclear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// A path in normal form, and whether the client's form had dot segments (which an upstream
/// that does not remove them may route by the segments before them). A segment `..;x` or
/// `.;x` is a dot segment too: Tomcat, Jetty and Spring cut `;` parameters from a segment
/// before they resolve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normal<'a> {
    /// The normal form.
    pub path: Cow<'a, str>,
    /// Whether a `.` or `..` segment was removed.
    pub had_dots: bool,
}

/// The normal form of `path` (no query: see [`crate::request::path_only`]).
pub fn normal(path: &str) -> Result<Normal<'_>, Unclear> {
    if is_normal(path) {
        return Ok(Normal {
            path: Cow::Borrowed(path),
            had_dots: false,
        });
    }
    let decoded = decode_unreserved(path)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut had_dots = false;
    let absolute = decoded.starts_with('/');
    let mut parts = decoded.split('/').peekable();
    if absolute {
        parts.next();
    }
    let mut trailing = false;
    while let Some(seg) = parts.next() {
        let last = parts.peek().is_none();
        match seg.split(';').next().unwrap_or(seg) {
            // Merged slashes: an empty segment in the middle says nothing.
            "" if seg.is_empty() => trailing = last,
            "." => {
                had_dots = true;
                trailing = true;
            }
            ".." => {
                had_dots = true;
                segments.pop();
                trailing = true;
            }
            _ => {
                segments.push(seg);
                trailing = false;
            }
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing || out.is_empty() {
        out.push('/');
    }
    Ok(Normal {
        path: Cow::Owned(out),
        had_dots,
    })
}

/// `path` (in normal form) without the `;` parameters of its segments, as servers that cut
/// them read it: `/admin;jsessionid=1/x` is `/admin/x`.
pub fn without_params(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut cut = false;
    for c in path.chars() {
        match c {
            '/' => {
                cut = false;
                out.push('/');
            }
            ';' => cut = true,
            c if !cut => out.push(c),
            _ => {}
        }
    }
    out
}

/// The common case, checked without allocating: no escape, backslash, empty or dot segment.
fn is_normal(path: &str) -> bool {
    let b = path.as_bytes();
    b.first() == Some(&b'/')
        && !b.iter().any(|c| matches!(c, b'%' | b'\\'))
        && !path.contains("//")
        && !path
            .split('/')
            .skip(1)
            .any(|s| matches!(s.split(';').next(), Some("." | "..")))
}

/// Percent-decodes the unreserved characters (ALPHA, DIGIT, `-`, `.`, `_`, `~`) and writes
/// every other escape in upper case.
fn decode_unreserved(path: &str) -> Result<String, Unclear> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        i += 1;
        match c {
            b'\\' => return Err(Unclear::Backslash),
            b'%' => {
                let (Some(h), Some(l)) = (
                    b.get(i).and_then(|x| hex_val(*x)),
                    b.get(i + 1).and_then(|x| hex_val(*x)),
                ) else {
                    return Err(Unclear::BadEscape);
                };
                i += 2;
                match h << 4 | l {
                    b'/' | b'\\' => return Err(Unclear::EncodedSeparator),
                    v if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') => {
                        out.push(v)
                    }
                    v => out.extend_from_slice(&[
                        b'%',
                        HEX[usize::from(v >> 4)],
                        HEX[usize::from(v & 15)],
                    ]),
                }
            }
            // Every other byte as it came (Envoy hands `:path` as sent, UTF-8 included).
            c => out.push(c),
        }
    }
    // Only ASCII was taken out or put in, so what was UTF-8 still is.
    String::from_utf8(out).map_err(|_| Unclear::BadEscape)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The value of hexadecimal digit `c`.
pub(crate) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
