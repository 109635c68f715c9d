//! `analytics-ctl import django`: the `Visit` table the old Django middleware
//! filled (source, user_id, session_key, path, method, ip_address, country,
//! device, browser, os, user_agent, referrer, response_time, timestamp),
//! read in key order and in chunks, each row a pageview at its timestamp.
//!
//! - **Source**: `app` stays app; `web` is split into web and mobile web by
//!   the user agent, as live events are.
//! - **Device, browser, OS** come from the user agent (uap-core). The stored
//!   strings are the old middleware's substring guesses at the same user
//!   agent, so they are not used.
//! - **Country** is taken as stored; the address is read only into the
//!   visitor hash below and goes no further.
//! - **Visitors**: a keyed hash (the site's secret) of the session key and the
//!   local day, so one session is one visitor per day, as the old figures
//!   had it. A row without a session key is hashed from its address and user
//!   agent instead, the way ingest identifies a browser.
//! - **Rules**: the site's rules apply: signed-in users (`user_id` set) count
//!   only with `count_authenticated`, excluded paths are left out, and bots
//!   are dropped as live traffic is.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Instant;

use analytics_events::{Event, EventType, Protocol, Source, Timing};
use analytics_store::sites::Site;
use chrono::{Datelike, NaiveDate, Utc};
use serde::Serialize;

use super::{Importer, Progress};
use crate::rollup::local_bucket;

/// The `source` of this importer's progress rows.
const SOURCE: &str = "django";

/// What to read and how much.
pub struct Args {
    pub database_url: String,
    pub table: String,
    pub site: String,
    pub dry_run: bool,
    /// Stop after this many rows (the rest is left for the next run).
    pub max_rows: Option<i64>,
}

/// What a run did; printed as JSON at the end.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub rows_read: i64,
    pub pageviews: usize,
    pub excluded: i64,
    pub older_than_retention: i64,
    /// Dropped by the aggregator's checks (bots, mostly), by reason.
    pub dropped: BTreeMap<String, usize>,
    pub last_key: Option<i64>,
    pub seconds: f64,
    pub rows_per_second: f64,
}

/// A row's time in milliseconds: `timestamp with time zone` as it is (Django
/// with `USE_TZ`), a naive `timestamp` taken as UTC.
const AS_TIMESTAMPTZ: &str = "to_timestamp(extract(epoch FROM timestamp))";

/// Rows per month still to import, for `--dry-run`.
#[derive(Debug, Serialize)]
pub struct Month {
    pub month: String,
    pub rows: i64,
}

/// The table name as an SQL identifier (optionally schema-qualified), or a
/// clear refusal: it goes into the statement text, so nothing else passes.
fn quoted_table(table: &str) -> anyhow::Result<String> {
    let parts: Vec<&str> = table.split('.').collect();
    let valid = |part: &&str| {
        !part.is_empty()
            && part.len() <= 63
            && part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    anyhow::ensure!(
        parts.len() <= 2 && parts.iter().all(valid),
        "--table {table:?}: expected a table name such as analytics_visit or schema.analytics_visit"
    );
    Ok(parts.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join("."))
}

/// Months of the rows not imported yet, in the site's time zone.
pub async fn dry_run(importer: &Importer, args: &Args) -> anyhow::Result<Vec<Month>> {
    let (source, site, table) = open(importer, args).await?;
    let after = importer.resume_after(site.id, SOURCE, &args.table).await?.unwrap_or(i64::MIN);
    let rows = source
        .query(
            &format!(
                "SELECT to_char({AS_TIMESTAMPTZ} AT TIME ZONE $2, 'YYYY-MM') AS month, count(*)
                 FROM {table} WHERE id > $1::int8 GROUP BY 1 ORDER BY 1"
            ),
            &[&after, &site.timezone.name()],
        )
        .await?;
    Ok(rows.iter().map(|r| Month { month: r.get(0), rows: r.get(1) }).collect())
}

/// Imports the rows after the last key applied, chunk by chunk.
pub async fn run(importer: &Importer, args: &Args) -> anyhow::Result<Summary> {
    let (source, site, table) = open(importer, args).await?;
    let mut after = importer.resume_after(site.id, SOURCE, &args.table).await?;
    let remaining: i64 = source
        .query_one(&format!("SELECT count(*) FROM {table} WHERE id > $1::int8"), &[&after.unwrap_or(i64::MIN)])
        .await?
        .get(0);
    let remaining = args.max_rows.map_or(remaining, |max| remaining.min(max));
    let statement = source
        .prepare(&format!(
            "SELECT id::int8, source, user_id IS NOT NULL, coalesce(session_key, ''), path,
                    coalesce(host(ip_address::inet), ''), coalesce(country, ''), coalesce(user_agent, ''),
                    coalesce(referrer, ''), response_time::float8, (extract(epoch FROM timestamp) * 1000)::int8
             FROM {table} WHERE id > $1::int8 ORDER BY id LIMIT $2::int8"
        ))
        .await?;
    let earliest_ms = Utc::now().timestamp_millis()
        - i64::try_from(importer.retention_days).unwrap_or(i64::MAX / 86_400_000).saturating_mul(86_400_000);
    let mut summary = Summary { last_key: after, ..Default::default() };
    let mut meter = Meter::new(remaining);
    while args.max_rows.is_none_or(|max| summary.rows_read < max) {
        let limit = args.max_rows.map_or(importer.chunk_rows, |max| importer.chunk_rows.min(max - summary.rows_read));
        let rows = source.query(&statement, &[&after.unwrap_or(i64::MIN), &limit]).await?;
        let Some(last) = rows.last() else { break };
        let last_key: i64 = last.get(0);
        let mut events = Vec::with_capacity(rows.len());
        let mut days: Option<(NaiveDate, NaiveDate)> = None;
        for row in &rows {
            let visit = Visit::from_row(row);
            match visit.event(&site, earliest_ms) {
                Ok((event, day)) => {
                    days = Some(days.map_or((day, day), |(first, last)| (first.min(day), last.max(day))));
                    events.push(event);
                }
                Err(Skip::Excluded) => summary.excluded += 1,
                Err(Skip::TooOld) => summary.older_than_retention += 1,
            }
        }
        let rows_read = rows.len() as i64;
        let progress =
            Progress { site_id: site.id, source: SOURCE, table: args.table.clone(), after, last_key, rows_read, days };
        let outcome = importer
            .apply(&progress, events)
            .await
            .map_err(|e| anyhow::anyhow!("applying the rows after key {after:?} up to {last_key}: {e}"))?;
        summary.pageviews += outcome.counted;
        for (reason, n) in outcome.dropped {
            *summary.dropped.entry(reason.to_owned()).or_default() += n;
        }
        summary.rows_read += rows_read;
        after = Some(last_key);
        summary.last_key = after;
        meter.show(summary.rows_read, last_key);
    }
    meter.finish();
    summary.seconds = meter.started.elapsed().as_secs_f64();
    summary.rows_per_second = summary.rows_read as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

/// The source connection, the site and the checked table name.
async fn open(importer: &Importer, args: &Args) -> anyhow::Result<(tokio_postgres::Client, Site, String)> {
    let table = quoted_table(&args.table)?;
    let source =
        analytics_store::connect(&args.database_url).await.map_err(|e| anyhow::anyhow!("--database-url: {e:#}"))?;
    let client = importer.applier.pool.get().await?;
    let site = analytics_store::sites::find_site(&client, &args.site)
        .await?
        .ok_or_else(|| anyhow::anyhow!("--site {:?}: no such site (an id or a domain)", args.site))?;
    Ok((source, site, table))
}

/// One row of the Visit table.
struct Visit {
    source: String,
    signed_in: bool,
    session_key: String,
    path: String,
    ip: String,
    country: String,
    user_agent: String,
    referrer: String,
    response_ms: Option<f64>,
    timestamp_ms: i64,
}

/// Why a row is not applied at all.
enum Skip {
    /// The site's rules leave it out (signed-in user, excluded path).
    Excluded,
    /// Older than the rollups keep.
    TooOld,
}

impl Visit {
    fn from_row(row: &tokio_postgres::Row) -> Self {
        Self {
            source: row.get(1),
            signed_in: row.get(2),
            session_key: row.get(3),
            path: row.get(4),
            ip: row.get(5),
            country: row.get(6),
            user_agent: row.get(7),
            referrer: row.get(8),
            response_ms: row.get(9),
            timestamp_ms: row.get(10),
        }
    }

    /// The row as a pageview of `site`, and its local day.
    fn event(self, site: &Site, earliest_ms: i64) -> Result<(Event, NaiveDate), Skip> {
        let timestamp_ms = self.timestamp_ms;
        if timestamp_ms < earliest_ms {
            return Err(Skip::TooOld);
        }
        if site.rules.exclusion(&site.domain, &self.path, self.signed_in).is_some() {
            return Err(Skip::Excluded);
        }
        // Every timestamp has a local day; this is only the type's Option.
        let (day, _) = local_bucket(timestamp_ms, site.timezone).ok_or(Skip::TooOld)?;
        let mut event = Event {
            visitor_id: self.visitor_id(&site.install_secret, day),
            site_id: site.id.to_string(),
            r#type: EventType::Pageview as i32,
            timestamp_ms,
            hostname: site.domain.clone(),
            path: self.path,
            referrer: self.referrer,
            source: if self.source.eq_ignore_ascii_case("app") { Source::App } else { Source::Web } as i32,
            user_agent: self.user_agent,
            country: self.country.to_ascii_uppercase(),
            timing: self.response_ms.filter(|ms| ms.is_finite() && *ms >= 0.0).map(|ms| Timing {
                response_ms: Some(ms.round().min(f64::from(u32::MAX)) as u32),
                ..Default::default()
            }),
            protocol: Protocol::Server as i32,
            received_ms: timestamp_ms,
            ..Default::default()
        };
        analytics_events::clean::sanitize(&mut event);
        Ok((event, day))
    }

    /// The session's visitor id on `day`; without a session key, the
    /// browser's (address and user agent) on that day.
    fn visitor_id(&self, secret: &[u8; 32], day: NaiveDate) -> u64 {
        let mut hasher = blake3::Hasher::new_keyed(secret);
        hasher.update(b"django-visit\0");
        hasher.update(&day.num_days_from_ce().to_le_bytes());
        let parts: [&str; 2] = match self.session_key.is_empty() {
            false => ["session", &self.session_key],
            true => [&self.ip, &self.user_agent],
        };
        for part in parts {
            hasher.update(&(part.len() as u32).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        u64::from_le_bytes(hasher.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
    }
}

/// Progress on standard error: one line redrawn on a terminal (rows, rate,
/// ETA), a plain line every ten seconds otherwise.
struct Meter {
    started: Instant,
    last_line: Instant,
    total: i64,
    terminal: bool,
}

impl Meter {
    fn new(total: i64) -> Self {
        let now = Instant::now();
        Self { started: now, last_line: now, total, terminal: std::io::stderr().is_terminal() }
    }

    fn show(&mut self, rows: i64, last_key: i64) {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = rows as f64 / elapsed;
        let eta = (self.total - rows).max(0) as f64 / rate.max(1e-9);
        let line = format!("{rows}/{} rows, {rate:.0} rows/s, ETA {eta:.0} s, last key {last_key}", self.total);
        if self.terminal {
            eprint!("\r\x1b[2K{line}");
        } else if self.last_line.elapsed().as_secs() >= 10 {
            eprintln!("{line}");
            self.last_line = Instant::now();
        }
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_identifiers_reach_the_statement() {
        assert_eq!(quoted_table("analytics_visit").expect("valid"), "\"analytics_visit\"");
        assert_eq!(quoted_table("old.analytics_visit").expect("valid"), "\"old\".\"analytics_visit\"");
        for bad in ["", "a;drop table x", "a.b.c", "1abc", "a\"b", "a b", "a."] {
            assert!(quoted_table(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn one_session_is_one_visitor_a_day() {
        let visit = |session: &str, ip: &str| Visit {
            source: "web".into(),
            signed_in: false,
            session_key: session.into(),
            path: "/".into(),
            ip: ip.into(),
            country: String::new(),
            user_agent: "UA".into(),
            referrer: String::new(),
            response_ms: None,
            timestamp_ms: 0,
        };
        let (secret, other) = ([1u8; 32], [2u8; 32]);
        let day = NaiveDate::from_ymd_opt(2025, 3, 1).expect("a date");
        let next = day.succ_opt().expect("a next day");
        let id = |v: &Visit, s: &[u8; 32], d: NaiveDate| v.visitor_id(s, d);
        assert_eq!(id(&visit("s1", "1.1.1.1"), &secret, day), id(&visit("s1", "2.2.2.2"), &secret, day));
        assert_ne!(id(&visit("s1", ""), &secret, day), id(&visit("s2", ""), &secret, day));
        assert_ne!(id(&visit("s1", ""), &secret, day), id(&visit("s1", ""), &secret, next));
        assert_ne!(id(&visit("s1", ""), &secret, day), id(&visit("s1", ""), &other, day));
        assert_ne!(id(&visit("", "1.1.1.1"), &secret, day), id(&visit("", "1.1.1.2"), &secret, day));
    }
}
