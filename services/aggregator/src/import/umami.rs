//! `analytics-ctl import umami`: one website's history from Umami's
//! Postgres database (`website_event`, with each event's `session`), read in
//! Umami's own order (time, then event id), each pageview or custom event at
//! its time in the site's time zone. Only columns every Umami 2.x schema has
//! are read.
//!
//! - **Client**: Umami keeps no user agent, only its parse (browser, OS,
//!   device), so those are taken as stated, under this system's names where
//!   they differ ("Mac OS" is "Mac OS X", a laptop a desktop); phones and
//!   tablets are mobile web, as live events are. Umami dropped bots itself.
//! - **Visitors**: a keyed hash (the site's secret) of Umami's session id and
//!   the local day: one Umami session is one visitor per day.
//! - **Campaigns** come from `utm_*` in the stored query string, the
//!   referrer from the stored domain and path; custom properties
//!   (`event_data`) are not read.

use std::sync::Arc;

use analytics_events::{Event, EventType, Protocol, Source};
use analytics_store::sites::Site;

use super::driver::{Chunk, Import, Reader, Summary};
use super::{Importer, Month, Position};
use crate::classify::Client;
use crate::rollup::local_bucket;

/// The `source` of this importer's progress rows.
const SOURCE: &str = "umami";

/// Where a run starts when none ran before: before any event.
const START: &str = "00000000-0000-0000-0000-000000000000";

/// What to read and how much.
pub struct Args {
    pub database_url: String,
    /// Umami's website id.
    pub website: String,
    pub site: String,
    /// Stop after this many events (the rest is left for the next run).
    pub max_rows: Option<i64>,
}

/// The events after `$2` (microseconds) and `$3` (event id) in Umami's
/// order. The time bound is also given coarsely, so that Umami's index on
/// (website_id, created_at) finds the start.
const EVENTS_SQL: &str = "
    SELECT (extract(epoch FROM e.created_at) * 1000000)::int8, e.event_id::text, e.session_id::text, e.url_path,
           coalesce(e.url_query, ''), coalesce(e.referrer_domain, ''), coalesce(e.referrer_path, ''),
           coalesce(e.page_title, ''), e.event_type, coalesce(e.event_name, ''), coalesce(s.browser, ''),
           coalesce(s.os, ''), coalesce(s.device, ''), coalesce(s.country, '')
    FROM website_event e LEFT JOIN session s ON s.session_id = e.session_id
    WHERE e.website_id = $1::text::uuid AND e.created_at >= to_timestamp($2::int8 / 1000000.0) - interval '1 second'
      AND ((extract(epoch FROM e.created_at) * 1000000)::int8, e.event_id) > ($2::int8, $3::text::uuid)
    ORDER BY 1, e.event_id
    LIMIT $4::int8";

/// Checks the website id before it reaches SQL.
fn website_id(website: &str) -> anyhow::Result<String> {
    uuid::Uuid::parse_str(website)
        .map(|id| id.to_string())
        .map_err(|_| anyhow::anyhow!("--website {website:?}: not an Umami website id (a UUID)"))
}

/// Months of the events not imported yet, in the site's time zone.
pub async fn dry_run(importer: &Importer, args: &Args) -> anyhow::Result<Vec<Month>> {
    let (source, site, website) = open(importer, args).await?;
    let after = importer.resume_after(site.id, SOURCE, &website).await?.unwrap_or_else(start);
    let rows = source
        .query(
            "SELECT to_char(e.created_at AT TIME ZONE $4, 'YYYY-MM'), count(*) FROM website_event e
             WHERE e.website_id = $1::text::uuid
               AND ((extract(epoch FROM e.created_at) * 1000000)::int8, e.event_id) > ($2::int8, $3::text::uuid)
             GROUP BY 1 ORDER BY 1",
            &[&website, &after.key, &after.id, &site.timezone.name()],
        )
        .await?;
    Ok(rows.iter().map(|r| Month { month: r.get(0), rows: r.get(1) }).collect())
}

/// Imports the website's events after the last one applied, chunk by chunk.
pub async fn run(importer: &Importer, args: &Args) -> anyhow::Result<Summary> {
    let (source, site, website) = open(importer, args).await?;
    let statement = source.prepare(EVENTS_SQL).await?;
    let import = Import { site_id: site.id, source: SOURCE, table: &website, max_rows: args.max_rows };
    let window = super::time_window(importer);
    let mut reader = EventReader { source, statement, website: website.clone(), site, window };
    super::driver::drive(importer, import, &mut reader).await
}

fn start() -> Position {
    Position { key: 0, id: START.to_owned() }
}

async fn open(importer: &Importer, args: &Args) -> anyhow::Result<(tokio_postgres::Client, Site, String)> {
    let website = website_id(&args.website)?;
    let source = super::connect_source(&args.database_url).await?;
    let site = importer.site(&args.site).await?;
    Ok((source, site, website))
}

/// One website's events in Umami's order.
struct EventReader {
    source: tokio_postgres::Client,
    statement: tokio_postgres::Statement,
    website: String,
    site: Site,
    window: std::ops::RangeInclusive<i64>,
}

impl Reader for EventReader {
    async fn remaining(&mut self, after: Option<&Position>) -> anyhow::Result<i64> {
        let after = after.cloned().unwrap_or_else(start);
        let row = self
            .source
            .query_one(
                "SELECT count(*) FROM website_event e WHERE e.website_id = $1::text::uuid
                   AND ((extract(epoch FROM e.created_at) * 1000000)::int8, e.event_id) > ($2::int8, $3::text::uuid)",
                &[&self.website, &after.key, &after.id],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn next(&mut self, after: Option<&Position>, limit: i64) -> anyhow::Result<Option<Chunk>> {
        let after = after.cloned().unwrap_or_else(start);
        let rows = self.source.query(&self.statement, &[&self.website, &after.key, &after.id, &limit]).await?;
        let Some(last) = rows.last() else { return Ok(None) };
        let last = Position { key: last.get(0), id: last.get(1) };
        let mut chunk = Chunk { rows_read: rows.len() as i64, last, ..Default::default() };
        for row in &rows {
            let at_us: i64 = row.get(0);
            let timestamp_ms = at_us.div_euclid(1000);
            let Some((day, _)) =
                local_bucket(timestamp_ms, self.site.timezone).filter(|_| self.window.contains(&timestamp_ms))
            else {
                chunk.out_of_range += 1;
                continue;
            };
            let path: String = row.get(3);
            // No hostname: the rows are the site's own, as a server's events are.
            if self.site.rules.exclusion("", &path, false).is_some() {
                chunk.excluded += 1;
                continue;
            }
            let session: String = row.get(2);
            let query: String = row.get(4);
            let (referrer_domain, referrer_path): (String, String) = (row.get(5), row.get(6));
            let (event_type, name): (i32, String) = (row.get(8), row.get(9));
            let [utm_source, utm_medium, utm_campaign] = campaign(&query);
            let custom = event_type != 1 && !name.is_empty();
            let mut event = Event {
                visitor_id: super::keyed_visitor(&self.site.install_secret, "umami-session", day, &[&session]),
                site_id: self.site.id.to_string(),
                r#type: if custom { EventType::Custom } else { EventType::Pageview } as i32,
                name: if custom { name } else { String::new() },
                timestamp_ms,
                hostname: self.site.domain.clone(),
                path,
                title: row.get(7),
                referrer: match referrer_domain.is_empty() {
                    true => String::new(),
                    false => format!("https://{referrer_domain}{referrer_path}"),
                },
                source: Source::Web as i32,
                country: row.get::<_, String>(13).trim().to_ascii_uppercase(),
                utm_source,
                utm_medium,
                utm_campaign,
                protocol: Protocol::Umami as i32,
                received_ms: timestamp_ms,
                ..Default::default()
            };
            analytics_events::clean::sanitize(&mut event);
            let client = stated_client(row.get(10), row.get(11), row.get(12));
            chunk.push(event, day, Some(client));
        }
        Ok(Some(chunk))
    }
}

/// `utm_source`, `utm_medium` and `utm_campaign` of a stored query string
/// (the first of each), read in one pass.
fn campaign(query: &str) -> [String; 3] {
    let mut found: [Option<String>; 3] = Default::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "utm_source" => &mut found[0],
            "utm_medium" => &mut found[1],
            "utm_campaign" => &mut found[2],
            _ => continue,
        };
        slot.get_or_insert_with(|| value.into_owned());
    }
    found.map(Option::unwrap_or_default)
}

/// Umami's browser, OS and device names as this system names them.
fn stated_client(browser: String, os: String, device: String) -> Arc<Client> {
    let browser = match browser.as_str() {
        "" => "Other".to_owned(),
        "chrome" => "Chrome".to_owned(),
        "crios" => "Chrome Mobile iOS".to_owned(),
        "firefox" => "Firefox".to_owned(),
        "fxios" => "Firefox iOS".to_owned(),
        "safari" => "Safari".to_owned(),
        "ios" | "ios-webview" => "Mobile Safari".to_owned(),
        "edge" | "edge-chromium" | "edge-ios" => "Edge".to_owned(),
        "samsung" => "Samsung Internet".to_owned(),
        "opera" | "opera-mini" => "Opera".to_owned(),
        "yandexbrowser" => "Yandex Browser".to_owned(),
        "android" => "Android".to_owned(),
        "ie" => "IE".to_owned(),
        other => capitalized(other),
    };
    let os = match os.as_str() {
        "" => "Other".to_owned(),
        "Mac OS" => "Mac OS X".to_owned(),
        "Android OS" => "Android".to_owned(),
        windows if windows.starts_with("Windows") && !windows.contains("Mobile") => "Windows".to_owned(),
        other => other.to_owned(),
    };
    let device = match device.as_str() {
        "desktop" | "laptop" => "desktop",
        "mobile" => "mobile",
        "tablet" => "tablet",
        _ => "unknown",
    };
    Arc::new(Client { device, browser_version: browser.clone(), browser, os })
}

fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umami_names_become_ours() {
        let client = stated_client("crios".into(), "Mac OS".into(), "laptop".into());
        assert_eq!(
            (client.browser.as_str(), client.os.as_str(), client.device),
            ("Chrome Mobile iOS", "Mac OS X", "desktop")
        );
        let client = stated_client("brave".into(), "Windows 10".into(), "mobile".into());
        assert_eq!((client.browser.as_str(), client.os.as_str(), client.device), ("Brave", "Windows", "mobile"));
        let client = stated_client(String::new(), String::new(), "smart-tv".into());
        assert_eq!((client.browser.as_str(), client.os.as_str(), client.device), ("Other", "Other", "unknown"));
        assert!(website_id("x'; drop").is_err());
    }

    #[test]
    fn campaigns_come_from_the_stored_query_string() {
        assert_eq!(
            campaign("x=1&utm_source=news&utm_source=b&utm_campaign=a%20b"),
            ["news", "", "a b"].map(String::from)
        );
        assert_eq!(campaign(""), ["", "", ""].map(String::from));
    }
}
