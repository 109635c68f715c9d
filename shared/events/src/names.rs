//! The names the aggregator stores and the query service reads back, each
//! spelled once here. Stored rows carry them, so renaming one is a migration.

/// How a count reached the site: the `source` of every rollup row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrafficSource {
    /// A desktop browser.
    Web,
    /// A phone's or tablet's browser.
    MobileWeb,
    /// The mobile app.
    App,
}

impl TrafficSource {
    /// In the order of the per-source columns of the ranking tables
    /// (`pageviews_web`, `pageviews_mobile_web`, `pageviews_app`).
    pub const ALL: [TrafficSource; 3] = [TrafficSource::Web, TrafficSource::MobileWeb, TrafficSource::App];

    pub const fn as_str(self) -> &'static str {
        match self {
            TrafficSource::Web => "web",
            TrafficSource::MobileWeb => "mobile_web",
            TrafficSource::App => "app",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|source| source.as_str() == text)
    }
}

/// The value the dimension rollups count a value under when it would take its
/// dimension past the daily bound of distinct values (the kept events keep
/// the real value).
pub const FOLDED_VALUE: &str = "(other)";

/// What the aggregator counts per value, day and month (the `dimension` of
/// the dimension rollups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Page,
    Country,
    Device,
    Browser,
    BrowserVersion,
    Os,
    /// The referring host, when it is not the site itself.
    Referrer,
    /// The referrer's kind: search, social, email and the like.
    ReferrerSource,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    /// A custom event's name.
    Event,
    /// The app's version (`app.version`), for app traffic.
    AppVersion,
}

impl Dimension {
    pub const ALL: [Dimension; 13] = [
        Dimension::Page,
        Dimension::Country,
        Dimension::Device,
        Dimension::Browser,
        Dimension::BrowserVersion,
        Dimension::Os,
        Dimension::Referrer,
        Dimension::ReferrerSource,
        Dimension::UtmSource,
        Dimension::UtmMedium,
        Dimension::UtmCampaign,
        Dimension::Event,
        Dimension::AppVersion,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Dimension::Page => "page",
            Dimension::Country => "country",
            Dimension::Device => "device",
            Dimension::Browser => "browser",
            Dimension::BrowserVersion => "browser_version",
            Dimension::Os => "os",
            Dimension::Referrer => "referrer",
            Dimension::ReferrerSource => "referrer_source",
            Dimension::UtmSource => "utm_source",
            Dimension::UtmMedium => "utm_medium",
            Dimension::UtmCampaign => "utm_campaign",
            Dimension::Event => "event",
            Dimension::AppVersion => "app_version",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|dimension| dimension.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_and_none_is_spelled_twice() {
        let mut seen = std::collections::HashSet::new();
        for source in TrafficSource::ALL {
            assert_eq!(TrafficSource::parse(source.as_str()), Some(source));
            assert!(seen.insert(source.as_str()));
        }
        for dimension in Dimension::ALL {
            assert_eq!(Dimension::parse(dimension.as_str()), Some(dimension));
            assert!(seen.insert(dimension.as_str()));
        }
        assert_eq!(Dimension::parse("nope"), None);
    }
}
