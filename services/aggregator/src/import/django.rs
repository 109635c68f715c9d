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

use analytics_events::{Event, EventType, Protocol, Source, Timing};
use analytics_store::sites::Site;
use chrono::NaiveDate;

use super::driver::{Chunk, Import, Reader, Summary};
use super::{Importer, Month, Position};
use crate::rollup::local_bucket;

/// The `source` of this importer's progress rows.
const SOURCE: &str = "django";

/// What to read and how much.
pub struct Args {
    pub database_url: String,
    pub table: String,
    pub site: String,
    /// Stop after this many rows (the rest is left for the next run).
    pub max_rows: Option<i64>,
}

/// A row's time: `timestamp with time zone` as it is (Django
/// with `USE_TZ`), a naive `timestamp` taken as UTC.
const AS_TIMESTAMPTZ: &str = "to_timestamp(extract(epoch FROM timestamp))";

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
    let after = importer.resume_after(site.id, SOURCE, &args.table).await?.map_or(i64::MIN, |p| p.key);
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
    let statement = source
        .prepare(&format!(
            "SELECT id::int8, source, user_id IS NOT NULL, coalesce(session_key, ''), path,
                    coalesce(host(ip_address::inet), ''), coalesce(country, ''), coalesce(user_agent, ''),
                    coalesce(referrer, ''), response_time::float8, (extract(epoch FROM timestamp) * 1000)::int8
             FROM {table} WHERE id > $1::int8 ORDER BY id LIMIT $2::int8"
        ))
        .await?;
    let import = Import { site_id: site.id, source: SOURCE, table: &args.table, max_rows: args.max_rows };
    let window = super::time_window(importer);
    super::driver::drive(importer, import, &mut VisitReader { source, table, statement, site, window }).await
}

/// The Visit table in key order.
struct VisitReader {
    source: tokio_postgres::Client,
    /// Quoted, checked.
    table: String,
    statement: tokio_postgres::Statement,
    site: Site,
    window: std::ops::RangeInclusive<i64>,
}

impl Reader for VisitReader {
    async fn remaining(&mut self, after: Option<&Position>) -> anyhow::Result<i64> {
        let after = after.map_or(i64::MIN, |p| p.key);
        let sql = format!("SELECT count(*) FROM {} WHERE id > $1::int8", self.table);
        Ok(self.source.query_one(&sql, &[&after]).await?.get(0))
    }

    async fn next(&mut self, after: Option<&Position>, limit: i64) -> anyhow::Result<Option<Chunk>> {
        let after = after.map_or(i64::MIN, |p| p.key);
        let rows = self.source.query(&self.statement, &[&after, &limit]).await?;
        let Some(last) = rows.last() else { return Ok(None) };
        let last = Position { key: last.get(0), id: String::new() };
        let mut chunk = Chunk { rows_read: rows.len() as i64, last, ..Default::default() };
        for row in &rows {
            match Visit::from_row(row).event(&self.site, &self.window) {
                Ok((event, day)) => chunk.push(event, day, None),
                Err(Skip::Excluded) => chunk.excluded += 1,
                Err(Skip::OutOfRange) => chunk.out_of_range += 1,
            }
        }
        Ok(Some(chunk))
    }
}

/// The source connection, the site and the checked table name.
async fn open(importer: &Importer, args: &Args) -> anyhow::Result<(tokio_postgres::Client, Site, String)> {
    let table = quoted_table(&args.table)?;
    let source = super::connect_source(&args.database_url).await?;
    let site = importer.site(&args.site).await?;
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
    OutOfRange,
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
    fn event(self, site: &Site, window: &std::ops::RangeInclusive<i64>) -> Result<(Event, NaiveDate), Skip> {
        let timestamp_ms = self.timestamp_ms;
        if !window.contains(&timestamp_ms) {
            return Err(Skip::OutOfRange);
        }
        // The table has no hostname: its rows are the site's own, as a
        // server's events are, so the hostname rule does not apply.
        if site.rules.exclusion("", &self.path, self.signed_in).is_some() {
            return Err(Skip::Excluded);
        }
        // Every timestamp has a local day; this is only the type's Option.
        let (day, _) = local_bucket(timestamp_ms, site.timezone).ok_or(Skip::OutOfRange)?;
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
        match self.session_key.is_empty() {
            false => super::keyed_visitor(secret, "django-session", day, &[&self.session_key]),
            true => super::keyed_visitor(secret, "django-browser", day, &[&self.ip, &self.user_agent]),
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
