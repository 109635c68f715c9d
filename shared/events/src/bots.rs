//! Which user agents are automated clients. Ingest drops them before they
//! cost a queue slot; the aggregator asks again (old events, direct
//! publishers) and adds the uap-core parser's own crawler verdict.

/// Why a client counts as automated: the labels of the drop metrics.
pub mod reason {
    pub const CRAWLER: &str = "crawler";
    pub const HEADLESS: &str = "headless";
    pub const UPTIME_MONITOR: &str = "uptime_monitor";
    pub const HTTP_CLIENT: &str = "http_client";
    pub const EMPTY_USER_AGENT: &str = "empty_user_agent";

    /// Every reason, for pre-creating the metric's series.
    pub const ALL: [&str; 5] = [CRAWLER, HEADLESS, UPTIME_MONITOR, HTTP_CLIENT, EMPTY_USER_AGENT];
}

use reason::{CRAWLER, EMPTY_USER_AGENT, HEADLESS, HTTP_CLIENT, UPTIME_MONITOR};

/// Substrings (lowercase) that mark automated clients, with the reason that
/// labels the drop metric.
const BOT_MARKERS: &[(&str, &str)] = &[
    ("headlesschrome", HEADLESS),
    ("phantomjs", HEADLESS),
    ("puppeteer", HEADLESS),
    ("playwright", HEADLESS),
    ("selenium", HEADLESS),
    ("uptimerobot", UPTIME_MONITOR),
    ("pingdom", UPTIME_MONITOR),
    ("statuscake", UPTIME_MONITOR),
    ("site24x7", UPTIME_MONITOR),
    ("uptime-kuma", UPTIME_MONITOR),
    ("better uptime", UPTIME_MONITOR),
    ("updown.io", UPTIME_MONITOR),
    ("newrelicpinger", UPTIME_MONITOR),
    ("curl/", HTTP_CLIENT),
    ("wget/", HTTP_CLIENT),
    ("python-requests", HTTP_CLIENT),
    ("python-urllib", HTTP_CLIENT),
    ("python-httpx", HTTP_CLIENT),
    ("aiohttp", HTTP_CLIENT),
    ("go-http-client", HTTP_CLIENT),
    ("node-fetch", HTTP_CLIENT),
    ("axios/", HTTP_CLIENT),
    ("libwww-perl", HTTP_CLIENT),
    ("apache-httpclient", HTTP_CLIENT),
    ("scrapy", CRAWLER),
    ("lighthouse", CRAWLER),
    ("pagespeed", CRAWLER),
    ("bot", CRAWLER),
    ("crawl", CRAWLER),
    ("spider", CRAWLER),
    ("slurp", CRAWLER),
];

/// The reason `user_agent` is automated, if a marker says so. An empty user
/// agent is no browser either.
pub fn bot_reason(user_agent: &str) -> Option<&'static str> {
    let lower = user_agent.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return Some(EMPTY_USER_AGENT);
    }
    BOT_MARKERS.iter().find(|(marker, _)| lower.contains(marker)).map(|(_, reason)| *reason)
}

/// Whether a client flagged for `reason` is left uncounted. An app's own
/// HTTP stack (Dart, okhttp, an empty agent) is how apps talk, not a bot;
/// crawlers and headless browsers are bots wherever they claim to come from.
pub fn drops(reason: &str, is_app: bool) -> bool {
    !is_app || reason == CRAWLER || reason == HEADLESS
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
