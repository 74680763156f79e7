//! A sealed value carried in one or more cookies: browsers keep about 4 KB per cookie, so a
//! long value is split over `name`, `name.1`, `name.2`… and joined again in that order.

/// The most characters of value in one cookie, leaving room under the 4,096 bytes browsers
/// keep for the name and the attributes.
pub const CHUNK: usize = 3800;
/// The most cookies one value may take; a longer one is refused rather than cut.
pub const MAX_CHUNKS: usize = 6;

/// How a cookie is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// `Max-Age`, in seconds.
    pub max_age: u64,
    /// `SameSite`: `Lax` or `Strict`.
    pub same_site: &'static str,
}

/// The name of chunk `i` of cookie `base`.
pub fn chunk_name(base: &str, i: usize) -> String {
    if i == 0 {
        base.to_string()
    } else {
        format!("{base}.{i}")
    }
}

/// `Set-Cookie` values that store `value` under `base`, and clear the chunks a longer value
/// left behind. `None` when the value needs more than [`MAX_CHUNKS`] cookies.
pub fn set(base: &str, value: &str, attrs: &Attributes) -> Option<Vec<String>> {
    let parts: Vec<&str> = chunks(value);
    if parts.len() > MAX_CHUNKS {
        return None;
    }
    let mut out: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| line(&chunk_name(base, i), part, attrs.max_age, attrs.same_site))
        .collect();
    out.extend((parts.len()..MAX_CHUNKS).map(|i| clear_line(&chunk_name(base, i))));
    Some(out)
}

/// `Set-Cookie` values that remove every chunk of `base`.
pub fn clear(base: &str) -> Vec<String> {
    (0..MAX_CHUNKS)
        .map(|i| clear_line(&chunk_name(base, i)))
        .collect()
}

fn chunks(value: &str) -> Vec<&str> {
    // The sealed text is base64url: ASCII, so any byte offset is a character boundary.
    let mut out = Vec::new();
    let mut rest = value;
    while rest.len() > CHUNK {
        let (head, tail) = rest.split_at(CHUNK);
        out.push(head);
        rest = tail;
    }
    out.push(rest);
    out
}

fn line(name: &str, value: &str, max_age: u64, same_site: &str) -> String {
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite={same_site}; Max-Age={max_age}")
}

fn clear_line(name: &str) -> String {
    line(name, "", 0, "Lax")
}

/// The value stored under `base` in a request's cookies (`name`, `value` pairs as the
/// `Cookie` header lists them), joined from its chunks. `None` when the first chunk is
/// missing or a name repeats (two values for one cookie are not guessed between).
pub fn get(cookies: &[(&str, &str)], base: &str) -> Option<String> {
    let mut out = String::new();
    for i in 0..MAX_CHUNKS {
        let name = chunk_name(base, i);
        let mut found = cookies.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v);
        match (found.next(), found.next()) {
            (Some(v), None) => out.push_str(v),
            (None, _) if i > 0 => break,
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTRS: Attributes = Attributes {
        max_age: 60,
        same_site: "Lax",
    };

    fn pairs(lines: &[String]) -> Vec<(String, String)> {
        lines
            .iter()
            .filter(|l| !l.contains("Max-Age=0"))
            .map(|l| {
                let first = l.split(';').next().unwrap();
                let (n, v) = first.split_once('=').unwrap();
                (n.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn a_value_round_trips_through_its_chunks() {
        for (name, len, cookies) in [
            ("short", 10, 1),
            ("exactly one", CHUNK, 1),
            ("two", CHUNK + 1, 2),
            ("five", 5 * CHUNK - 3, 5),
        ] {
            let value: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let lines = set("__Host-s", &value, &ATTRS).unwrap();
            assert_eq!(
                lines.len(),
                MAX_CHUNKS,
                "{name}: every chunk set or cleared"
            );
            let p = pairs(&lines);
            assert_eq!(p.len(), cookies, "{name}");
            let p: Vec<(&str, &str)> = p.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let got = get(&p, "__Host-s");
            assert_eq!(got.as_deref(), Some(value.as_str()), "{name}");
        }
    }

    #[test]
    fn too_long_a_value_is_refused() {
        assert!(set("s", &"x".repeat(MAX_CHUNKS * CHUNK + 1), &ATTRS).is_none());
    }

    #[test]
    fn attributes_hold_for_every_chunk() {
        for l in set(
            "__Host-s",
            "v",
            &Attributes {
                max_age: 28800,
                same_site: "Strict",
            },
        )
        .unwrap()
        .iter()
        .take(1)
        {
            assert_eq!(
                l,
                "__Host-s=v; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=28800"
            );
        }
        assert!(clear("__Host-s")
            .iter()
            .all(|l| l.contains("Max-Age=0") && l.contains("Secure")));
    }

    #[test]
    fn missing_or_repeated_chunks_read_as_nothing() {
        for (name, cookies, want) in [
            ("none", vec![], None),
            ("only a later chunk", vec![("s.1", "b")], None),
            ("repeated first", vec![("s", "a"), ("s", "b")], None),
            (
                "repeated later",
                vec![("s", "a"), ("s.1", "b"), ("s.1", "c")],
                None,
            ),
            ("gap ends it", vec![("s", "a"), ("s.2", "c")], Some("a")),
            (
                "other cookies ignored",
                vec![("x", "1"), ("s", "a"), ("s.1", "b")],
                Some("ab"),
            ),
        ] {
            assert_eq!(get(&cookies, "s").as_deref(), want, "{name}");
        }
    }
}
