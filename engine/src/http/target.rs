//! The request target split for consumers: `path`, `query` and `host`
//! beside the raw `target`, so that an API catalog need not parse URLs.
//!
//! RFC 9112 §3.2 names four forms of request target:
//! - origin-form `/p?q`: path `/p`, query `q`;
//! - absolute-form `http://h/p?q` (to proxies): path `/p`, query `q`, and
//!   the authority `h` is the host (RFC 9112 §3.2.2: it wins over `Host`);
//!   an empty path is `/`;
//! - authority-form `h:443` (CONNECT): no path and no query;
//! - asterisk-form `*` (`OPTIONS *`): path `*`, no query.
//!
//! Anything else (a client that sent `index.html?x`) is split at its
//! first `?` as it stands. The query is what follows the first `?`, empty
//! for `/a?` and absent (null) without a `?`.

/// The parts of one request target, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetParts<'a> {
    pub path: Option<&'a str>,
    pub query: Option<&'a str>,
    /// The authority of an absolute-form target (userinfo removed), or the
    /// whole target in authority-form.
    pub authority: Option<&'a str>,
}

/// Splits `target`; `connect` says the method was CONNECT.
pub fn split(target: &str, connect: bool) -> TargetParts<'_> {
    if target.starts_with('/') {
        // Origin-form, nearly every request: one scan for '?'.
        let (path, query) = path_query(target);
        return TargetParts {
            path: Some(path),
            query,
            authority: None,
        };
    }
    if connect {
        return TargetParts {
            path: None,
            query: None,
            authority: Some(target).filter(|t| !t.is_empty()),
        };
    }
    if target == "*" {
        return TargetParts {
            path: Some("*"),
            query: None,
            authority: None,
        };
    }
    if let Some(rest) = after_scheme(target) {
        // The authority ends at the first '/', '?' or '#'.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(end);
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (path, query) = path_query(path_and_query);
        return TargetParts {
            path: Some(if path.is_empty() { "/" } else { path }),
            query,
            authority: Some(authority).filter(|a| !a.is_empty()),
        };
    }
    let (path, query) = path_query(target);
    TargetParts {
        path: Some(path),
        query,
        authority: None,
    }
}

/// Where the userinfo (`user:password`, before an `@`) of an
/// absolute-form target lies, when it has one: credentials, which
/// redaction replaces.
pub fn userinfo(target: &str) -> Option<std::ops::Range<usize>> {
    if target.starts_with('/') {
        return None;
    }
    let rest = after_scheme(target)?;
    let start = target.len() - rest.len();
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..end].rfind('@')?;
    Some(start..start + at)
}

fn path_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (s, None),
    }
}

/// What follows `scheme://` when the target starts with a URI scheme
/// (RFC 3986 §3.1: a letter, then letters, digits, `+`, `-`, `.`).
fn after_scheme(target: &str) -> Option<&str> {
    let colon = target.find(':')?;
    let scheme = &target.as_bytes()[..colon];
    let valid = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !valid {
        return None;
    }
    target[colon + 1..].strip_prefix("//")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(target: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
        let p = split(target, false);
        (p.path, p.query, p.authority)
    }

    #[test]
    fn origin_form() {
        assert_eq!(
            parts("/api/orders?x=1&y=2"),
            (Some("/api/orders"), Some("x=1&y=2"), None)
        );
        assert_eq!(parts("/a"), (Some("/a"), None, None));
        assert_eq!(parts("/a?"), (Some("/a"), Some(""), None));
        assert_eq!(parts("/a?b?c"), (Some("/a"), Some("b?c"), None));
        assert_eq!(parts("/"), (Some("/"), None, None));
    }

    #[test]
    fn userinfo_of_absolute_form() {
        fn span(t: &str) -> Option<&str> {
            userinfo(t).map(|r| &t[r])
        }
        assert_eq!(span("http://bob:pw@h:8080/p?q=@"), Some("bob:pw"));
        assert_eq!(span("https://a@b@h"), Some("a@b"));
        assert_eq!(span("http://@h/"), Some(""));
        for none in ["http://h/p?u=a@b", "/p@x", "h:443", "*", "http:/x@y"] {
            assert_eq!(span(none), None, "{none}");
        }
    }

    #[test]
    fn absolute_form() {
        assert_eq!(parts("http://h/p?q"), (Some("/p"), Some("q"), Some("h")));
        assert_eq!(parts("http://h:8080/p"), (Some("/p"), None, Some("h:8080")));
        assert_eq!(
            parts("https://u:pw@h/p?"),
            (Some("/p"), Some(""), Some("h"))
        );
        assert_eq!(parts("http://h"), (Some("/"), None, Some("h")));
        assert_eq!(parts("http://h?q=1"), (Some("/"), Some("q=1"), Some("h")));
        assert_eq!(
            parts("HTTP://[2001:db8::1]:80/x"),
            (Some("/x"), None, Some("[2001:db8::1]:80"))
        );
    }

    proptest::proptest! {
        /// Any target splits without a panic.
        #[test]
        fn any_target_splits(t in "(?s).{0,64}", connect in proptest::prelude::any::<bool>()) {
            let _ = split(&t, connect);
        }

        /// An origin-form target is exactly its path, then `?` and its
        /// query when there is one.
        #[test]
        fn origin_form_rejoins(t in "/(?s).{0,64}", connect in proptest::prelude::any::<bool>()) {
            let p = split(&t, connect);
            let path = p.path.expect("origin form has a path");
            let rejoined = match p.query {
                Some(q) => format!("{path}?{q}"),
                None => path.to_string(),
            };
            proptest::prop_assert_eq!(&rejoined, &t);
            proptest::prop_assert_eq!(p.authority, None);
        }
    }

    #[test]
    fn asterisk_authority_and_other_forms() {
        assert_eq!(parts("*"), (Some("*"), None, None));
        let connect = split("example.com:443", true);
        assert_eq!(
            (connect.path, connect.query, connect.authority),
            (None, None, Some("example.com:443"))
        );
        // Not a scheme: split as it stands.
        assert_eq!(parts("index.html?x"), (Some("index.html"), Some("x"), None));
        assert_eq!(parts("/a:b//c"), (Some("/a:b//c"), None, None));
        assert_eq!(parts("1http://h/p"), (Some("1http://h/p"), None, None));
        assert_eq!(parts(""), (Some(""), None, None));
    }
}
