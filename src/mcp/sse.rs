//! A `text/event-stream` answer (the Streamable HTTP transport's form of a POST's answer), as
//! far as list cutting needs it: where complete events end, and an event whose `data` is
//! rewritten. Lines end in CRLF, LF or CR; an event ends at an empty line (the SSE standard,
//! "event stream interpretation"); its `data` is its `data:` lines joined with LF.

/// Where the last complete event in `buf` ends (0: none is complete).
pub fn complete_events(buf: &[u8]) -> usize {
    event_ends(buf).last().copied().unwrap_or(0)
}

/// Where each complete event in `buf` ends.
pub fn event_ends(buf: &[u8]) -> Vec<usize> {
    scan(buf, Scanned::default()).0
}

/// How far [`scan`] got: the first byte it has not judged, and where the line it is in began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scanned {
    /// The next byte to look at.
    pub next: usize,
    /// Where the current line began.
    pub line_start: usize,
}

/// The ends of the complete events of `buf` from `from` on, and how far it got, so that a
/// buffer that grows is scanned once, not again with every chunk. A CR at the very end may be
/// the first half of a CRLF, so it ends nothing until more arrives.
pub fn scan(buf: &[u8], from: Scanned) -> (Vec<usize>, Scanned) {
    let mut ends = Vec::new();
    let (mut i, mut line_start) = (from.next, from.line_start);
    while i < buf.len() {
        if buf[i] == b'\r' && i + 1 == buf.len() {
            break;
        }
        let Some(eol) = eol_at(buf, i) else {
            i += 1;
            continue;
        };
        let empty = i == line_start;
        i += eol;
        line_start = i;
        if empty {
            ends.push(i);
        }
    }
    (
        ends,
        Scanned {
            next: i,
            line_start,
        },
    )
}

/// The length of the line ending at `i` of `buf` (CRLF, LF or CR), if one is there.
fn eol_at(buf: &[u8], i: usize) -> Option<usize> {
    match buf.get(i)? {
        b'\n' => Some(1),
        b'\r' if buf.get(i + 1) == Some(&b'\n') => Some(2),
        b'\r' => Some(1),
        _ => None,
    }
}

/// The lines of `event`, each with its line ending.
fn lines(event: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < event.len() {
        let Some(eol) = eol_at(event, i) else {
            i += 1;
            continue;
        };
        out.push((&event[start..i], &event[i..i + eol]));
        i += eol;
        start = i;
    }
    if start < event.len() {
        out.push((&event[start..], &b""[..]));
    }
    out
}

/// The value of a `data` line (`data:x`, `data: x`, or a bare `data`), if it is one.
fn data_of(line: &[u8]) -> Option<&[u8]> {
    if line == b"data" {
        return Some(b"");
    }
    let rest = line.strip_prefix(b"data:")?;
    Some(rest.strip_prefix(b" ").unwrap_or(rest))
}

/// `event` with its data replaced by what `edit` makes of it; `None` when the event has no
/// data or `edit` leaves it as it is. The new data takes the place of the first `data` line,
/// one `data:` line per line of it; every other line stays where it was.
pub fn rewrite(event: &[u8], edit: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    let lines = lines(event);
    let data: Vec<&[u8]> = lines.iter().filter_map(|(l, _)| data_of(l)).collect();
    if data.is_empty() {
        return None;
    }
    let new = edit(&data.join(&b'\n'))?;
    let mut out = Vec::with_capacity(event.len());
    let mut written = false;
    for (line, eol) in lines {
        if data_of(line).is_none() {
            out.extend_from_slice(line);
            out.extend_from_slice(eol);
            continue;
        }
        if written {
            continue;
        }
        written = true;
        let eol: &[u8] = if eol.is_empty() { b"\n" } else { eol };
        for part in new.split(|b| *b == b'\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(part);
            out.extend_from_slice(eol);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_events_end() {
        for (name, buf, want) in [
            ("none yet", "event: message\ndata: {", 0),
            ("one", "data: a\n\n", 9),
            ("one and a half", "data: a\n\ndata: b\n", 9),
            ("crlf", "data: a\r\n\r\nid: 2", 11),
            ("cr only", "data: a\r\rx", 9),
            ("a trailing cr waits", "data: a\r\n\r", 0),
            ("a comment event", ": keep-alive\n\n", 14),
            ("two", "data: a\n\ndata: b\n\n", 18),
        ] {
            assert_eq!(complete_events(buf.as_bytes()), want, "{name}");
        }
        // Scanned in pieces, the same ends as in one go.
        let stream = b"data: a\r\n\r\ndata: b\n\n: c\r\r";
        let mut state = Scanned::default();
        let mut ends = Vec::new();
        for upto in 1..=stream.len() {
            let (more, next) = scan(&stream[..upto], state);
            ends.extend(more);
            state = next;
        }
        assert_eq!(ends, event_ends(stream));
    }

    #[test]
    fn rewrites_the_data_and_keeps_the_rest() {
        let mut upper = |d: &[u8]| Some(d.to_ascii_uppercase());
        for (name, event, want) in [
            (
                "one line",
                "event: message\ndata: {\"a\":1}\n\n",
                Some("event: message\ndata: {\"A\":1}\n\n"),
            ),
            (
                "no space",
                "data:x\r\nid: 7\r\n\r\n",
                Some("data: X\r\nid: 7\r\n\r\n"),
            ),
            (
                "several lines",
                "id: 1\ndata: a\ndata: b\n\n",
                Some("id: 1\ndata: A\ndata: B\n\n"),
            ),
            ("no data", ": ping\n\n", None),
        ] {
            let got = rewrite(event.as_bytes(), &mut upper).map(|b| String::from_utf8(b).unwrap());
            assert_eq!(got.as_deref(), want, "{name}");
        }
        assert_eq!(rewrite(b"data: a\n\n", &mut |_| None), None);
    }
}
