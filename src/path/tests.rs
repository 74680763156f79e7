//! The normal form of paths, table-driven: RFC 3986 §5.2.4's own examples, and the forms of
//! `/admin` that reached an upstream unchecked when Envoy did not normalise.

use super::*;

#[test]
fn normal_forms() {
    for (name, input, want, dots) in [
        ("already normal", "/admin/users", "/admin/users", false),
        ("root", "/", "/", false),
        ("encoded unreserved", "/%61dmin", "/admin", false),
        (
            "encoded unreserved, upper hex",
            "/%41%44min",
            "/ADmin",
            false,
        ),
        ("dot segment", "/./admin", "/admin", true),
        ("parent segment", "/x/../admin", "/admin", true),
        ("parent above the root", "/../admin", "/admin", true),
        ("encoded dots", "/%2e%2E/admin", "/admin", true),
        ("encoded single dot", "/x/%2e/admin", "/x/admin", true),
        ("double slash", "//admin", "/admin", false),
        ("many slashes", "/a///b//", "/a/b/", false),
        ("trailing dot", "/admin/.", "/admin/", true),
        ("trailing parent", "/admin/x/..", "/admin/", true),
        ("climbing out", "/admin/..", "/", true),
        (
            "reserved escape kept, upper-cased",
            "/a%3fb",
            "/a%3Fb",
            false,
        ),
        ("space kept encoded", "/a%20b", "/a%20b", false),
        ("dots within a name", "/a..b/.c", "/a..b/.c", false),
        // RFC 3986 §5.2.4's examples.
        ("rfc 3986 5.2.4 first", "/a/b/c/./../../g", "/a/g", true),
        (
            "rfc 3986 5.2.4 second",
            "/mid/content=5/../6",
            "/mid/6",
            true,
        ),
        ("non-ascii kept", "/caf\u{e9}/./x", "/caf\u{e9}/x", true),
        ("empty", "", "/", false),
        // Tomcat, Jetty and Spring cut `;` parameters before resolving: `..;` climbs.
        (
            "parent with a parameter",
            "/public/..;/admin",
            "/admin",
            true,
        ),
        ("dot with a parameter", "/.;x/admin", "/admin", true),
        (
            "a parameter elsewhere is kept",
            "/admin;jsessionid=1/x",
            "/admin;jsessionid=1/x",
            false,
        ),
        (
            "a segment that is only a parameter",
            "/;x/admin",
            "/;x/admin",
            false,
        ),
    ] {
        let got = normal(input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.path, want, "{name}");
        assert_eq!(got.had_dots, dots, "{name}");
    }
}

#[test]
fn paths_with_no_one_reading_are_unclear() {
    for (name, input, want) in [
        ("encoded slash", "/%2fadmin", Unclear::EncodedSeparator),
        (
            "encoded slash, upper",
            "/x%2F..%2Fadmin",
            Unclear::EncodedSeparator,
        ),
        ("encoded backslash", "/x%5cadmin", Unclear::EncodedSeparator),
        ("raw backslash", "/\\admin", Unclear::Backslash),
        ("lone percent", "/admin%", Unclear::BadEscape),
        ("bad hex", "/%zzadmin", Unclear::BadEscape),
        ("half an escape", "/a%4", Unclear::BadEscape),
    ] {
        assert_eq!(normal(input), Err(want), "{name}");
    }
}

#[test]
fn a_normal_path_is_borrowed() {
    assert!(matches!(
        normal("/a/b").unwrap().path,
        Cow::Borrowed("/a/b")
    ));
}

#[test]
fn parameters_cut_as_servers_cut_them() {
    for (input, want) in [
        ("/admin;jsessionid=1/x", "/admin/x"),
        ("/admin;x", "/admin"),
        ("/a/b", "/a/b"),
        ("/;x/y;z", "//y"),
    ] {
        assert_eq!(without_params(input), want, "{input}");
    }
}
