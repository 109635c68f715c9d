//! Referrer URL to a referring host and a source name. A link from the site's
//! own pages is navigation, not a referral.

/// Well-known referrers by host suffix, so the dashboard says "Google" for
/// google.com, google.de and news.google.com alike.
const KNOWN_SOURCES: &[(&str, &str)] = &[
    ("google.", "Google"),
    ("bing.com", "Bing"),
    ("duckduckgo.com", "DuckDuckGo"),
    ("yandex.", "Yandex"),
    ("baidu.com", "Baidu"),
    ("yahoo.", "Yahoo"),
    ("ecosia.org", "Ecosia"),
    ("facebook.com", "Facebook"),
    ("instagram.com", "Instagram"),
    ("t.co", "Twitter"),
    ("twitter.com", "Twitter"),
    ("x.com", "Twitter"),
    ("linkedin.com", "LinkedIn"),
    ("reddit.com", "Reddit"),
    ("youtube.com", "YouTube"),
    ("t.me", "Telegram"),
    ("telegram.org", "Telegram"),
    ("news.ycombinator.com", "Hacker News"),
    ("github.com", "GitHub"),
    ("wikipedia.org", "Wikipedia"),
];

#[derive(Debug, PartialEq)]
pub struct Referral {
    pub host: String,
    pub source: String,
}

/// `None` for no referrer, an unparseable one, or one of `own_hosts`.
pub fn referral(referrer: &str, own_hosts: &[&str]) -> Option<Referral> {
    let url = url::Url::parse(referrer.trim()).ok()?;
    let host = url.host_str()?.trim_start_matches("www.").to_ascii_lowercase();
    if host.is_empty() || own_hosts.iter().any(|own| same_site(&host, own)) {
        return None;
    }
    let source = KNOWN_SOURCES
        .iter()
        .find(|(pattern, _)| matches_pattern(&host, pattern))
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_else(|| host.clone());
    Some(Referral { host, source })
}

/// `host` equals `own` or is a subdomain of it (www. ignored).
fn same_site(host: &str, own: &str) -> bool {
    let own = own.trim_start_matches("www.");
    !own.is_empty() && (host == own || host.ends_with(&format!(".{own}")))
}

/// A pattern ending in a dot ("google.") matches any top-level domain; others
/// match the host or its subdomains.
fn matches_pattern(host: &str, pattern: &str) -> bool {
    if pattern.ends_with('.') {
        host.starts_with(pattern) || host.contains(&format!(".{pattern}"))
    } else {
        same_site(host, pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sources_hosts_and_own_site() {
        let own = ["shop.example.com", "example.com"];
        assert_eq!(
            referral("https://www.google.de/search?q=x", &own),
            Some(Referral { host: "google.de".into(), source: "Google".into() })
        );
        assert_eq!(referral("https://news.google.com/", &own).map(|r| r.source), Some("Google".into()));
        assert_eq!(referral("https://t.co/abc", &own).map(|r| r.source), Some("Twitter".into()));
        assert_eq!(referral("https://blog.other.org/post", &own).map(|r| r.source), Some("blog.other.org".into()));
        assert_eq!(referral("https://example.com/cart", &own), None, "own site");
        assert_eq!(referral("https://www.shop.example.com/", &own), None, "own site with www");
        assert_eq!(referral("", &own), None);
        assert_eq!(referral("not a url", &own), None);
        assert_ne!(referral("https://notx.com/", &own).map(|r| r.source), Some("Twitter".into()));
    }
}
