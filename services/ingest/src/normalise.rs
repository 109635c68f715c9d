//! Turns what trackers send into the fields we store: a URL becomes a host and
//! a path without query string (but for `utm_*`) or fragment.

#[derive(Debug, Default, PartialEq)]
pub struct Location {
    pub hostname: String,
    pub path: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
}

const MAX_PATH_LEN: usize = 2000;

/// Parses an absolute URL. `None` when it is not an http(s) URL.
pub fn location_from_url(raw: &str) -> Option<Location> {
    let url = url::Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let mut location = Location {
        hostname: url.host_str().unwrap_or_default().trim_start_matches("www.").to_owned(),
        path: truncate(url.path(), MAX_PATH_LEN),
        ..Default::default()
    };
    for (key, value) in url.query_pairs() {
        let slot = match key.as_ref() {
            "utm_source" => &mut location.utm_source,
            "utm_medium" => &mut location.utm_medium,
            "utm_campaign" => &mut location.utm_campaign,
            _ => continue,
        };
        *slot = value.chars().take(200).collect();
    }
    Some(location)
}

/// Hash-routed single-page apps: a fragment that is a route (`#/settings`,
/// `#!/settings`) is part of the page. Trackers send one only in hash mode.
pub fn keep_route_fragment(location: &mut Location, raw_url: &str) {
    if let Some((_, fragment)) = raw_url.split_once('#')
        && (fragment.starts_with('/') || fragment.starts_with('!'))
    {
        location.path = truncate(&format!("{}#{fragment}", location.path), MAX_PATH_LEN);
    }
}

/// A bare path as sent by apps and servers: query and fragment dropped.
pub fn location_from_path(raw: &str) -> Option<Location> {
    let path = raw.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return None;
    }
    Some(Location { path: truncate(path, MAX_PATH_LEN), ..Default::default() })
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Apps built with these frameworks announce themselves in the user agent;
/// their traffic is `app`, not `web`.
pub fn is_app_user_agent(user_agent: &str) -> bool {
    const FRAMEWORKS: [&str; 6] = ["flutter", "dart", "react-native", "cordova", "ionic", "capacitor"];
    let ua = user_agent.to_ascii_lowercase();
    FRAMEWORKS.iter().any(|f| ua.contains(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_fragments_are_kept_and_anchors_dropped() {
        let route = |url: &str| {
            let mut location = location_from_url(url).expect("url");
            keep_route_fragment(&mut location, url);
            location.path
        };
        assert_eq!(route("https://a.example/app/#/settings?x=1"), "/app/#/settings?x=1");
        assert_eq!(route("https://a.example/#!/inbox"), "/#!/inbox");
        assert_eq!(route("https://a.example/docs#install"), "/docs");
        assert_eq!(route("https://a.example/docs"), "/docs");
    }

    #[test]
    fn url_keeps_utm_and_drops_the_rest() {
        let l = location_from_url("https://www.example.com/blog/post?id=3&utm_source=news&utm_campaign=fall#top")
            .expect("valid");
        assert_eq!(l.hostname, "example.com");
        assert_eq!(l.path, "/blog/post");
        assert_eq!(l.utm_source, "news");
        assert_eq!(l.utm_campaign, "fall");
        assert_eq!(l.utm_medium, "");
    }

    #[test]
    fn non_http_urls_and_relative_paths_are_refused() {
        assert!(location_from_url("javascript:alert(1)").is_none());
        assert!(location_from_url("/relative").is_none());
        assert!(location_from_path("no-slash").is_none());
        assert_eq!(location_from_path("/a/b?x=1#f").map(|l| l.path).as_deref(), Some("/a/b"));
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn app_frameworks_are_recognised() {
        assert!(is_app_user_agent("Dart/3.4 (dart:io)"));
        assert!(is_app_user_agent("okhttp/4.9 React-Native"));
        assert!(!is_app_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"));
    }
}
