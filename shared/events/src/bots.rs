//! Which user agents are automated clients. Ingest drops them before they
//! cost a queue slot; the aggregator asks again (old events, direct
//! publishers) and adds the uap-core parser's own crawler verdict.

/// Substrings (lowercase) that mark automated clients, with the reason that
/// labels the drop metric.
const BOT_MARKERS: &[(&str, &str)] = &[
    ("headlesschrome", "headless"),
    ("phantomjs", "headless"),
    ("puppeteer", "headless"),
    ("playwright", "headless"),
    ("selenium", "headless"),
    ("uptimerobot", "uptime_monitor"),
    ("pingdom", "uptime_monitor"),
    ("statuscake", "uptime_monitor"),
    ("site24x7", "uptime_monitor"),
    ("uptime-kuma", "uptime_monitor"),
    ("better uptime", "uptime_monitor"),
    ("updown.io", "uptime_monitor"),
    ("newrelicpinger", "uptime_monitor"),
    ("curl/", "http_client"),
    ("wget/", "http_client"),
    ("python-requests", "http_client"),
    ("python-urllib", "http_client"),
    ("python-httpx", "http_client"),
    ("aiohttp", "http_client"),
    ("go-http-client", "http_client"),
    ("node-fetch", "http_client"),
    ("axios/", "http_client"),
    ("libwww-perl", "http_client"),
    ("apache-httpclient", "http_client"),
    ("scrapy", "crawler"),
    ("lighthouse", "crawler"),
    ("pagespeed", "crawler"),
    ("bot", "crawler"),
    ("crawl", "crawler"),
    ("spider", "crawler"),
    ("slurp", "crawler"),
];

/// The reason `user_agent` is automated, if a marker says so. An empty user
/// agent is no browser either.
pub fn bot_reason(user_agent: &str) -> Option<&'static str> {
    let lower = user_agent.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return Some("empty_user_agent");
    }
    BOT_MARKERS.iter().find(|(marker, _)| lower.contains(marker)).map(|(_, reason)| *reason)
}

/// Whether a client flagged for `reason` is left uncounted. An app's own
/// HTTP stack (Dart, okhttp, an empty agent) is how apps talk, not a bot;
/// crawlers and headless browsers are bots wherever they claim to come from.
pub fn drops(reason: &str, is_app: bool) -> bool {
    !is_app || reason == "crawler" || reason == "headless"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_and_the_app_exception() {
        assert_eq!(bot_reason("Mozilla/5.0 (compatible; Googlebot/2.1)"), Some("crawler"));
        assert_eq!(bot_reason("curl/8.5.0"), Some("http_client"));
        assert_eq!(bot_reason("  "), Some("empty_user_agent"));
        assert_eq!(bot_reason("Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"), None);
        assert!(drops("http_client", false));
        assert!(!drops("http_client", true));
        assert!(drops("crawler", true));
    }
}
