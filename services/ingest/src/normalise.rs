//! Turns what trackers send into the fields we store: a URL becomes a host and
//! a path without query string (but for `utm_*`) or fragment (but for routes).

use analytics_events::clean::{limits, truncate};

#[derive(Debug, Default, PartialEq)]
pub struct Location {
    pub hostname: String,
    pub path: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
}

/// Which fragment (`#...`) of a URL is part of the page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fragment {
    /// None: an anchor within the page (`#install`).
    Drop,
    /// Only a route of a hash-routed app (`#/settings`, `#!/inbox`).
    Routes,
    /// Any fragment (Plausible's hash mode: the site says it routes by fragment).
    All,
}

/// Parses an absolute URL. `None` when it is not an http(s) URL. Values are
/// only cut to their caps here; [`analytics_events::clean`] cleans them
/// before the event is queued.
pub fn location_from_url(raw: &str, fragment: Fragment) -> Option<Location> {
    let url = url::Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let mut location = Location {
        hostname: truncate(url.host_str().unwrap_or_default().trim_start_matches("www."), limits::HOSTNAME).to_owned(),
        path: truncate(url.path(), limits::PATH).to_owned(),
        ..Default::default()
    };
    for (key, value) in url.query_pairs() {
        let slot = match key.as_ref() {
            "utm_source" => &mut location.utm_source,
            "utm_medium" => &mut location.utm_medium,
            "utm_campaign" => &mut location.utm_campaign,
            _ => continue,
        };
        *slot = truncate(&value, limits::UTM).to_owned();
    }
    if let Some(route) = url.fragment().and_then(|f| page_fragment(f, fragment)) {
        location.path = truncate(&format!("{}#{route}", location.path), limits::PATH).to_owned();
    }
    Some(location)
}

/// The part of a fragment that belongs to the page: its query string is
/// dropped like a page's own (it carries reset tokens and e-mail addresses).
fn page_fragment(fragment: &str, keep: Fragment) -> Option<&str> {
    let route = fragment.split('?').next().unwrap_or_default();
    let wanted = match keep {
        Fragment::Drop => false,
        Fragment::Routes => route.starts_with('/') || route.starts_with('!'),
        Fragment::All => !route.is_empty(),
    };
    wanted.then_some(route)
}

/// A bare path as sent by apps and servers: query and fragment dropped.
pub fn location_from_path(raw: &str) -> Option<Location> {
    let path = raw.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return None;
    }
    Some(Location { path: truncate(path, limits::PATH).to_owned(), ..Default::default() })
}

/// A native screen of an app (a `screen_view` with a name and no URL): the
/// screen's name is its page, as the app calls it (`Checkout`, not `/checkout`).
pub fn location_of_screen(name: &str) -> Option<Location> {
    let name = name.trim();
    (!name.is_empty()).then(|| Location { path: truncate(name, limits::PATH).to_owned(), ..Default::default() })
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
        let route = |url: &str| location_from_url(url, Fragment::Routes).expect("url").path;
        assert_eq!(route("https://a.example/app/#/settings"), "/app/#/settings");
        assert_eq!(route("https://a.example/#!/inbox"), "/#!/inbox");
        assert_eq!(route("https://a.example/docs#install"), "/docs");
        assert_eq!(route("https://a.example/docs"), "/docs");
        let hash_mode = |url: &str| location_from_url(url, Fragment::All).expect("url").path;
        assert_eq!(hash_mode("https://a.example/docs#install"), "/docs#install");
        assert_eq!(location_from_url("https://a.example/#/a", Fragment::Drop).expect("url").path, "/");
    }

    #[test]
    fn query_strings_inside_route_fragments_are_dropped() {
        let path = |url: &str, keep| location_from_url(url, keep).expect("url").path;
        assert_eq!(path("https://a.example/app#/reset?token=s3cret&email=a@b.c", Fragment::Routes), "/app#/reset");
        assert_eq!(path("https://a.example/#/confirm?code=1", Fragment::All), "/#/confirm");
        assert_eq!(path("https://a.example/#?only=query", Fragment::All), "/");
    }

    #[test]
    fn url_keeps_utm_and_drops_the_rest() {
        let l = location_from_url(
            "https://www.example.com/blog/post?id=3&utm_source=news&utm_campaign=fall#top",
            Fragment::Routes,
        )
        .expect("valid");
        assert_eq!(l.hostname, "example.com");
        assert_eq!(l.path, "/blog/post");
        assert_eq!(l.utm_source, "news");
        assert_eq!(l.utm_campaign, "fall");
        assert_eq!(l.utm_medium, "");
    }

    #[test]
    fn non_http_urls_and_relative_paths_are_refused() {
        assert!(location_from_url("javascript:alert(1)", Fragment::Drop).is_none());
        assert!(location_from_url("/relative", Fragment::Drop).is_none());
        assert!(location_from_path("no-slash").is_none());
        assert_eq!(location_from_path("/a/b?x=1#f").map(|l| l.path).as_deref(), Some("/a/b"));
    }

    #[test]
    fn long_values_are_cut_to_their_caps() {
        let long = format!("https://a.example/{}?utm_source={}#/{}", "p".repeat(3000), "s".repeat(999), "r".repeat(99));
        let location = location_from_url(&long, Fragment::Routes).expect("url");
        assert_eq!((location.path.len(), location.utm_source.len()), (limits::PATH, limits::UTM));
    }

    #[test]
    fn app_frameworks_are_recognised() {
        assert!(is_app_user_agent("Dart/3.4 (dart:io)"));
        assert!(is_app_user_agent("okhttp/4.9 React-Native"));
        assert!(!is_app_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"));
    }
}
