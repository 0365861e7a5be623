//! The ingress's routes: `"/api" = "web"` (any host) and `"api.example.com/" = "api"`
//! (that host only). A request goes to the route whose host matches and whose prefix
//! is the longest match of its path; a route naming the host beats one that does not.
//! A prefix matches at a segment boundary: `/api` matches `/api`, `/api/x` and
//! `/api?q`, not `/apix`. The path is forwarded unchanged.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Lowercase host without a port; None for any host.
    pub host: Option<String>,
    /// Starts with `/`.
    pub prefix: String,
    pub service: String,
}

/// Split a route key into (host, prefix); None if it is not `[HOST]/PREFIX`.
pub fn parse_key(key: &str) -> Option<(Option<String>, String)> {
    let slash = key.find('/')?;
    let (host, prefix) = key.split_at(slash);
    if prefix.bytes().any(|b| b <= b' ' || b == b'?' || b == b'#' || b == 0x7f) {
        return None;
    }
    if host.is_empty() {
        return Some((None, prefix.to_string()));
    }
    let ok = host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| (Some(host.to_ascii_lowercase()), prefix.to_string()))
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix.ends_with('/') {
        return path.starts_with(prefix) || path == &prefix[..prefix.len() - 1];
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The route for `host` (lowercase, no port) and `path` (no query).
pub fn find<'a>(routes: &'a [Route], host: &str, path: &str) -> Option<&'a Route> {
    routes
        .iter()
        .filter(|r| r.host.as_deref().is_none_or(|h| h == host) && prefix_matches(&r.prefix, path))
        .max_by_key(|r| (r.host.is_some(), r.prefix.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(key: &str, svc: &str) -> Route {
        let (host, prefix) = parse_key(key).unwrap();
        Route { host, prefix, service: svc.into() }
    }

    #[test]
    fn longest_prefix_and_host_first() {
        let routes = vec![r("/", "front"), r("/api", "web"), r("/api/v2/", "v2"), r("Api.Example.com/", "api")];
        let f = |h: &str, p: &str| find(&routes, h, p).map(|r| r.service.as_str());
        assert_eq!(f("x", "/"), Some("front"));
        assert_eq!(f("x", "/index.html"), Some("front"));
        assert_eq!(f("x", "/api"), Some("web"));
        assert_eq!(f("x", "/api/users"), Some("web"));
        assert_eq!(f("x", "/apix"), Some("front"));
        assert_eq!(f("x", "/api/v2"), Some("v2"));
        assert_eq!(f("x", "/api/v2/q"), Some("v2"));
        assert_eq!(f("api.example.com", "/api/x"), Some("api"));
        assert_eq!(find(&routes[1..2], "x", "/"), None);
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key("/a"), Some((None, "/a".into())));
        assert_eq!(parse_key("h.x/"), Some((Some("h.x".into()), "/".into())));
        assert_eq!(parse_key("api"), None);
        assert_eq!(parse_key("a b/"), None);
        assert_eq!(parse_key("/a?b"), None);
    }
}
