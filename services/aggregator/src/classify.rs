//! User agent to device class, browser and OS, and the bot verdict. Parsing
//! with the uap-core patterns is the dearest step per event, so verdicts are
//! cached by user-agent string (real traffic has a long tail, but a short head).

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use lru::LruCache;
use prometheus::IntGauge;

use crate::uap::Patterns;

/// What a human visitor's user agent says about their client.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// `mobile`, `tablet`, `desktop`, or `unknown` when nothing in the user
    /// agent says which.
    pub device: &'static str,
    pub browser: String,
    /// Family and major version, e.g. `Chrome 126`.
    pub browser_version: String,
    pub os: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Human(Arc<Client>),
    /// Not counted; the reason labels the drop metric.
    Bot(&'static str),
}

pub struct Classifier {
    patterns: Patterns,
    cache: Mutex<LruCache<String, Verdict>>,
    compiled: IntGauge,
}

impl Classifier {
    /// Loads the uap-core `regexes.yaml`.
    pub fn load(regexes: &Path, cache_size: usize, compiled: IntGauge) -> anyhow::Result<Self> {
        let patterns = Patterns::load(regexes).with_context(|| {
            format!("loading user-agent regexes from {} (run deploy/local/fetch-data.sh)", regexes.display())
        })?;
        let capacity = NonZeroUsize::new(cache_size.max(1)).expect("non-zero");
        Ok(Self { patterns, cache: Mutex::new(LruCache::new(capacity)), compiled })
    }

    pub fn classify(&self, user_agent: &str) -> Verdict {
        if let Some(verdict) = self.cache.lock().expect("ua cache lock").get(user_agent) {
            return verdict.clone();
        }
        let verdict = self.parse(user_agent);
        self.compiled.set(self.patterns.compiled() as i64);
        self.cache.lock().expect("ua cache lock").put(user_agent.to_owned(), verdict.clone());
        verdict
    }

    fn parse(&self, user_agent: &str) -> Verdict {
        if let Some(reason) = analytics_events::bots::bot_reason(user_agent) {
            return Verdict::Bot(reason);
        }
        let lower = user_agent.trim().to_ascii_lowercase();
        let device = self.patterns.device(user_agent);
        if device.family == "Spider" {
            return Verdict::Bot(analytics_events::bots::reason::CRAWLER);
        }
        let os = self.patterns.system(user_agent).family;
        let browser = self.patterns.browser(user_agent);
        let browser_version = match &browser.major {
            Some(major) => format!("{} {major}", browser.family),
            None => browser.family.clone(),
        };
        Verdict::Human(Arc::new(Client {
            device: device_class(&device.family, &os, &lower),
            browser: browser.family,
            browser_version,
            os,
        }))
    }
}

/// The operating systems only desktops and laptops run (uap-core's names).
const DESKTOP_SYSTEMS: [&str; 13] = [
    "Windows",
    "Mac OS X",
    "Linux",
    "Ubuntu",
    "Chrome OS",
    "Fedora",
    "Debian",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "Solaris",
    "Linux Mint",
    "Arch Linux",
];

/// Tablets first (an iPad or an Android device without "Mobile" in its user
/// agent), then phones, then desktops by their operating system; a user agent
/// that says none of these is `unknown`, never a desktop by default.
fn device_class(device: &str, os: &str, lower_ua: &str) -> &'static str {
    let android = os == "Android";
    if device == "iPad"
        || device.contains("Tablet")
        || lower_ua.contains("tablet")
        || (android && !lower_ua.contains("mobile"))
    {
        "tablet"
    } else if android || os == "iOS" || os.starts_with("Windows Phone") || lower_ua.contains("mobile") {
        "mobile"
    } else if DESKTOP_SYSTEMS.contains(&os) || os.starts_with("Windows") {
        "desktop"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> Classifier {
        // Fetched by `make test` (deploy/local/fetch-data.sh).
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/data/regexes.yaml");
        Classifier::load(&path, 100, IntGauge::new("compiled", "test").expect("valid gauge"))
            .expect("regexes.yaml present: run deploy/local/fetch-data.sh")
    }

    fn human(c: &Classifier, ua: &str) -> Client {
        match c.classify(ua) {
            Verdict::Human(client) => (*client).clone(),
            Verdict::Bot(reason) => panic!("{ua} classified as bot ({reason})"),
        }
    }

    #[test]
    fn devices_browsers_and_systems() {
        let c = classifier();
        let iphone = human(
            &c,
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        );
        assert_eq!((iphone.device, iphone.os.as_str(), iphone.browser.as_str()), ("mobile", "iOS", "Mobile Safari"));
        let ipad = human(
            &c,
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(ipad.device, "tablet");
        let pixel = human(
            &c,
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
        );
        assert_eq!(
            (pixel.device, pixel.os.as_str(), pixel.browser_version.as_str()),
            ("mobile", "Android", "Chrome Mobile 126")
        );
        let windows = human(
            &c,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        );
        assert_eq!((windows.device, windows.os.as_str(), windows.browser.as_str()), ("desktop", "Windows", "Chrome"));
        let mac = human(
            &c,
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        );
        assert_eq!(mac.device, "desktop");
        // Nothing says what it runs on: unknown, not a desktop.
        for ua in ["Dart/3.4 (dart:io)", "SomeClient/1.0", "Mozilla/5.0 (compatible)"] {
            assert_eq!(human(&c, ua).device, "unknown", "{ua}");
        }
    }

    #[test]
    fn bots_are_recognised_by_reason() {
        let c = classifier();
        let cases = [
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler"),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
                "headless",
            ),
            ("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "uptime_monitor"),
            ("curl/8.5.0", "http_client"),
            ("", "empty_user_agent"),
        ];
        for (ua, reason) in cases {
            assert_eq!(c.classify(ua), Verdict::Bot(reason), "{ua}");
        }
    }
}
