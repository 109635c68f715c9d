//! From events to rollup deltas. Each event is classified (bots dropped),
//! placed in its site's local day and hour (IANA zone, so half-hour offsets and
//! DST are exact), and added to in-memory deltas that one transaction applies.

use std::collections::{BTreeMap, HashMap};

use analytics_events::{Dimension, Event, EventType, Source, TrafficSource};
use analytics_store::sites::Site;
use chrono::{NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::classify::{Classifier, Verdict};
use crate::kept_events::{Counted, KeptEvent, Kind};
use crate::referrer::referral;

/// The local day and hour of a UTC instant in `tz`.
pub fn local_bucket(timestamp_ms: i64, tz: Tz) -> Option<(NaiveDate, i16)> {
    let local = Utc.timestamp_millis_opt(timestamp_ms).single()?.with_timezone(&tz);
    Some((local.date_naive(), local.hour() as i16))
}

/// Pageviews, custom events and the visitor ids behind them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub pageviews: i64,
    pub events: i64,
    pub visitors: Vec<i64>,
    /// Visitor ids as runs `(first, count)`: the ids `first..first + count`
    /// (listed in SQL when there are very many, see `crate::sketch`). An import of daily figures (which says how many
    /// visitors, not who) stands for a day's N visitors by N ids of one
    /// pool, so that a value's visitors are a subset of the day's.
    pub visitor_runs: Vec<(i64, i64)>,
}

impl Counts {
    pub(crate) fn add(&mut self, is_pageview: bool, visitor: i64) {
        if is_pageview {
            self.pageviews += 1;
        } else {
            self.events += 1;
        }
        self.visitors.push(visitor);
    }

    /// Adds `other`'s counts and visitors (call [`Self::finish`] after the last).
    pub(crate) fn merge(&mut self, other: &Counts) {
        self.pageviews += other.pageviews;
        self.events += other.events;
        self.visitors.extend_from_slice(&other.visitors);
        self.visitor_runs.extend_from_slice(&other.visitor_runs);
    }

    /// Sorted and deduplicated ids: fewer values to hash into the sketch.
    /// Of runs from one pool, only the longest is kept: it holds the others.
    pub(crate) fn finish(&mut self) {
        self.visitors.sort_unstable();
        self.visitors.dedup();
        self.visitor_runs.sort_unstable_by_key(|&(first, count)| (first, std::cmp::Reverse(count)));
        self.visitor_runs.dedup_by_key(|run| run.0);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HourKey {
    pub site_id: Uuid,
    pub local_day: NaiveDate,
    pub local_hour: i16,
    pub source: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimensionKey {
    pub site_id: Uuid,
    /// The first day of the row's period in the site's time zone: the day
    /// itself for daily rows, the first of the month for monthly ones.
    pub period: NaiveDate,
    pub dimension: &'static str,
    pub source: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpeedKey {
    pub site_id: Uuid,
    pub local_day: NaiveDate,
    pub metric: &'static str,
    pub source: &'static str,
    pub path: String,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Histogram {
    pub count: i64,
    pub sum_ms: i64,
    pub buckets: Vec<i64>,
}

impl Histogram {
    pub(crate) fn add(&mut self, ms: u32) {
        let bucket = analytics_events::speed::bucket_of(ms);
        if self.buckets.len() <= bucket {
            self.buckets.resize(bucket + 1, 0);
        }
        self.buckets[bucket] += 1;
        self.count += 1;
        self.sum_ms += i64::from(ms);
    }

    /// Adds `other`'s measurements to these.
    pub(crate) fn merge(&mut self, other: &Histogram) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        self.buckets.iter_mut().zip(&other.buckets).for_each(|(a, b)| *a += b);
        self.count += other.count;
        self.sum_ms += other.sum_ms;
    }
}

/// How one app version's requests went on one day: the app events that
/// report a response status (the Django middleware's), 4xx and 5xx among
/// them, and the response times of those that carry one.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AppHealth {
    pub requests: i64,
    pub client_errors: i64,
    pub server_errors: i64,
    pub response: Histogram,
}

impl AppHealth {
    pub(crate) fn add(&mut self, status: u16, response_ms: Option<u32>) {
        self.requests += 1;
        match status {
            400..=499 => self.client_errors += 1,
            500..=599 => self.server_errors += 1,
            _ => {}
        }
        if let Some(ms) = response_ms {
            self.response.add(ms);
        }
    }

    pub(crate) fn merge(&mut self, other: &AppHealth) {
        self.requests += other.requests;
        self.client_errors += other.client_errors;
        self.server_errors += other.server_errors;
        self.response.merge(&other.response);
    }
}

/// Why an event was not counted; labels the drop metric.
pub type DropReason = &'static str;

/// A batch names a site the directory does not know, even after re-reading it.
pub const UNKNOWN_SITE: DropReason = "unknown_site";

/// Everything one transaction adds. Maps are ordered so that every transaction
/// touches rows in the same order, and concurrent aggregators cannot deadlock.
#[derive(Debug, Default)]
pub struct Deltas {
    pub hourly: BTreeMap<HourKey, Counts>,
    /// Totals known only per day (an import of daily figures): they go to
    /// the daily totals, and the hourly chart has nothing for them.
    pub days: BTreeMap<(Uuid, NaiveDate, &'static str), Counts>,
    pub dimensions: BTreeMap<DimensionKey, Counts>,
    pub speed: BTreeMap<SpeedKey, Histogram>,
    /// Latest title per page, by event time.
    pub titles: BTreeMap<(Uuid, String), (i64, String)>,
    pub counted: usize,
    pub dropped: HashMap<DropReason, usize>,
    /// Every counted event, for the visits (`sessions`).
    pub hits: Vec<crate::sessions::Hit>,
    /// Per site, local day and app version.
    pub app_health: BTreeMap<(Uuid, NaiveDate, String), AppHealth>,
    /// Whether counted events are kept ([`Self::kept`]).
    pub keeps_events: bool,
    /// Every counted pageview and custom event, when they are kept.
    pub kept: Vec<crate::kept_events::KeptEvent>,
}

impl Deltas {
    pub fn drop_event(&mut self, reason: DropReason) {
        *self.dropped.entry(reason).or_default() += 1;
    }

    pub fn finish(&mut self) {
        self.hourly
            .values_mut()
            .chain(self.days.values_mut())
            .chain(self.dimensions.values_mut())
            .for_each(Counts::finish);
    }

    /// Adds one event of `site`, or counts why it was dropped. Its client
    /// is `stated` when its source recorded one (an import without user
    /// agents), else parsed from its user agent.
    pub fn add(
        &mut self,
        event: &Event,
        site: &Site,
        classifier: &Classifier,
        stated: Option<&std::sync::Arc<crate::classify::Client>>,
    ) {
        let reading = match Reading::of(event, site, classifier, stated) {
            Ok(reading) => reading,
            Err(reason) => return self.drop_event(reason),
        };
        let Reading { local_day, local_hour, source, is_pageview, visitor, page, .. } = reading;
        let site_id = site.id;
        if let Some(timing) = &event.timing {
            for (metric, value) in timing.measurements() {
                self.speed
                    .entry(SpeedKey { site_id, local_day, metric, source, path: page.to_owned() })
                    .or_default()
                    .add(value);
            }
        }
        if event.r#type() == EventType::Performance {
            // Timings of a page already counted by its pageview: nothing else.
            if self.keeps_events {
                let dimensions = reading.dimensions(event, site);
                let counted = Counted { site_id, local_day, source, kind: Kind::Timings, dimensions: &dimensions };
                self.kept.push(KeptEvent::of(event, counted));
            }
            self.counted += 1;
            return;
        }

        self.hourly.entry(HourKey { site_id, local_day, local_hour, source }).or_default().add(is_pageview, visitor);
        self.add_app_health(event, site_id, local_day, source);
        let dimensions = reading.dimensions(event, site);
        if self.keeps_events {
            let kind = if is_pageview { Kind::Pageview } else { Kind::Custom };
            let counted = Counted { site_id, local_day, source, kind, dimensions: &dimensions };
            self.kept.push(KeptEvent::of(event, counted));
        }
        for (dimension, value) in dimensions {
            self.dimensions
                .entry(DimensionKey { site_id, period: local_day, dimension: dimension.as_str(), source, value })
                .or_default()
                .add(is_pageview, visitor);
        }
        self.hits.push(crate::sessions::Hit {
            site_id,
            visitor,
            at_ms: event.timestamp_ms,
            is_view: is_pageview,
            page: page.to_owned(),
            source,
            timezone: site.timezone,
            gap_ms: i64::from(site.visit_gap_minutes) * 60_000,
        });
        if is_pageview && !event.title.is_empty() {
            let latest = self.titles.entry((site_id, page.to_owned())).or_insert((i64::MIN, String::new()));
            if event.timestamp_ms >= latest.0 {
                *latest = (event.timestamp_ms, event.title.clone());
            }
        }
        self.counted += 1;
    }
}

impl Deltas {
    /// An app event that reports the status of a response (the `status`
    /// property the Django middleware sends) counts towards its version's
    /// release health.
    fn add_app_health(&mut self, event: &Event, site_id: Uuid, local_day: NaiveDate, source: &str) {
        if source != TrafficSource::App.as_str() || event.app_version.is_empty() {
            return;
        }
        let Some(status) = event.props.get("status").and_then(|s| s.parse::<u16>().ok()) else {
            return;
        };
        let response_ms = event.timing.as_ref().and_then(|t| t.response_ms);
        self.app_health.entry((site_id, local_day, event.app_version.clone())).or_default().add(status, response_ms);
    }
}

/// What one event counts as: when in the site's time zone, from which
/// source, device and client, on which page.
struct Reading<'a> {
    local_day: NaiveDate,
    local_hour: i16,
    source: &'static str,
    device: &'static str,
    os: String,
    client: std::sync::Arc<crate::classify::Client>,
    page: &'a str,
    is_pageview: bool,
    visitor: i64,
}

impl<'a> Reading<'a> {
    /// Reads `event`, or says why it is not counted: a time outside any
    /// calendar, or a bot (an app's own HTTP stack is not one).
    fn of(
        event: &'a Event,
        site: &Site,
        classifier: &Classifier,
        stated: Option<&std::sync::Arc<crate::classify::Client>>,
    ) -> Result<Self, DropReason> {
        let (local_day, local_hour) =
            local_bucket(event.timestamp_ms, site.timezone).ok_or(crate::incoming::reason::BAD_TIMESTAMP)?;
        let is_app = event.source() == Source::App;
        let verdict = match stated {
            Some(client) => Verdict::Human(client.clone()),
            None => classifier.classify(&event.user_agent),
        };
        let client = match verdict {
            Verdict::Human(client) => client,
            Verdict::Bot(reason) if analytics_events::bots::drops(reason, is_app) => return Err(reason),
            // An app's own HTTP stack: its device comes from its platform below.
            Verdict::Bot(_) => std::sync::Arc::new(crate::classify::Client {
                device: UNKNOWN_DEVICE,
                browser: "App".into(),
                browser_version: "App".into(),
                os: "Other".into(),
            }),
        };
        // An app's device and system: what it declares, else what its HTTP
        // client or the parsed user agent gives away, else unknown.
        let platform = match is_app {
            true => Some(app_platform(&event.app_platform, &event.user_agent, &client.os)),
            false => None,
        };
        let device = match platform {
            Some(platform) => app_device(platform).unwrap_or(UNKNOWN_DEVICE),
            None => client.device,
        };
        let os = match platform {
            Some("") => client.os.clone(),
            Some(platform) => platform_name(platform),
            None => client.os.clone(),
        };
        let source = if is_app {
            TrafficSource::App
        } else if matches!(client.device, "mobile" | "tablet") {
            TrafficSource::MobileWeb
        } else {
            TrafficSource::Web
        }
        .as_str();
        Ok(Self {
            local_day,
            local_hour,
            source,
            device,
            os,
            client,
            page: page_of(&event.path),
            is_pageview: matches!(event.r#type(), EventType::Pageview | EventType::ScreenView),
            visitor: event.visitor_id as i64,
        })
    }

    /// The event's value in each dimension it has one in.
    fn dimensions(self, event: &Event, site: &Site) -> Vec<(Dimension, String)> {
        let country = if event.country.is_empty() { "unknown".to_owned() } else { event.country.clone() };
        let mut dimensions = vec![
            (Dimension::Page, self.page.to_owned()),
            (Dimension::Country, country),
            (Dimension::Device, self.device.to_owned()),
            (Dimension::Browser, self.client.browser.clone()),
            (Dimension::BrowserVersion, self.client.browser_version.clone()),
            (Dimension::Os, self.os),
        ];
        let own_hosts = [event.hostname.as_str(), site.domain.as_str()];
        if let Some(referral) = referral(&event.referrer, &own_hosts) {
            dimensions.push((Dimension::Referrer, referral.host));
            dimensions.push((Dimension::ReferrerSource, referral.source));
        }
        for (name, value) in [
            (Dimension::UtmSource, &event.utm_source),
            (Dimension::UtmMedium, &event.utm_medium),
            (Dimension::UtmCampaign, &event.utm_campaign),
        ] {
            if !value.is_empty() {
                dimensions.push((name, value.clone()));
            }
        }
        if !self.is_pageview && !event.name.is_empty() {
            dimensions.push((Dimension::Event, event.name.clone()));
        }
        if self.source == TrafficSource::App.as_str() && !event.app_version.is_empty() {
            dimensions.push((Dimension::AppVersion, event.app_version.clone()));
        }
        dimensions
    }
}

/// The page dimension's value: an event sent without a page (a server-side
/// event of Umami's Node client, say) is counted under `(none)`.
pub fn page_of(path: &str) -> &str {
    if path.is_empty() { NO_PAGE } else { path }
}

pub const NO_PAGE: &str = "(none)";

/// The device of traffic nothing identifies.
const UNKNOWN_DEVICE: &str = "unknown";

/// The platform an app event comes from: the one it declares; else the one its
/// HTTP client implies (okhttp and Dalvik are Android's, CFNetwork, Darwin and
/// Alamofire iOS's; `Dart/` alone is Flutter on either); else the system the
/// user agent parser found, if it is a phone's; else empty (unknown).
fn app_platform<'a>(declared: &'a str, user_agent: &str, parsed_os: &str) -> &'a str {
    if !declared.is_empty() {
        return declared;
    }
    let lower = user_agent.to_ascii_lowercase();
    if lower.contains("okhttp") || lower.contains("dalvik") || parsed_os == "Android" {
        "android"
    } else if lower.contains("cfnetwork")
        || lower.contains("darwin")
        || lower.contains("alamofire")
        || parsed_os == "iOS"
    {
        "ios"
    } else {
        ""
    }
}

fn app_device(platform: &str) -> Option<&'static str> {
    match platform.to_ascii_lowercase().as_str() {
        "ios" | "android" => Some("mobile"),
        "ipados" => Some("tablet"),
        "macos" | "windows" | "linux" => Some("desktop"),
        _ => None,
    }
}

fn platform_name(platform: &str) -> String {
    match platform.to_ascii_lowercase().as_str() {
        "ios" => "iOS".into(),
        "ipados" => "iOS".into(),
        "android" => "Android".into(),
        "macos" => "Mac OS X".into(),
        "windows" => "Windows".into(),
        "linux" => "Linux".into(),
        _ => platform.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339).expect("valid").timestamp_millis()
    }

    #[test]
    fn tehran_half_hour_offset_moves_late_utc_evening_to_next_day() {
        let tehran: Tz = "Asia/Tehran".parse().expect("zone");
        let day = |d| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
        // 20:29 UTC is 23:59 in Tehran (UTC+3:30), 20:30 UTC is 00:00 next day.
        assert_eq!(local_bucket(ms("2026-11-26T20:29:00Z"), tehran), Some((day("2026-11-26"), 23)));
        assert_eq!(local_bucket(ms("2026-11-26T20:30:00Z"), tehran), Some((day("2026-11-27"), 0)));
        assert_eq!(local_bucket(ms("2026-11-26T20:45:00Z"), tehran), Some((day("2026-11-27"), 0)));
    }

    #[test]
    fn dst_change_keeps_hours_exact() {
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let day = NaiveDate::from_ymd_opt(2026, 3, 29).expect("date");
        // Clocks jump from 02:00 to 03:00 local at 01:00 UTC.
        assert_eq!(local_bucket(ms("2026-03-29T00:59:00Z"), berlin), Some((day, 1)));
        assert_eq!(local_bucket(ms("2026-03-29T01:00:00Z"), berlin), Some((day, 3)));
        // And back from 03:00 to 02:00 at 01:00 UTC on 25 October: 02:xx twice.
        let autumn = NaiveDate::from_ymd_opt(2026, 10, 25).expect("date");
        assert_eq!(local_bucket(ms("2026-10-25T00:30:00Z"), berlin), Some((autumn, 2)));
        assert_eq!(local_bucket(ms("2026-10-25T01:30:00Z"), berlin), Some((autumn, 2)));
    }
}
