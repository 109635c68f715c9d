//! `analytics-ctl import plausible`: the CSV export of Plausible (the zip
//! its site settings offer, one `imported_<table>_<from>_<to>.csv` per
//! table). It holds figures per day, not events, so they are written as the
//! rollups' own rows, through the same writer and value bound as events:
//!
//! - **Days** are Plausible's dates, taken as the site's local days. There
//!   are no hours: imported days have daily totals, and nothing on the
//!   hourly chart.
//! - **Source**: all of it is web; Plausible does not split traffic by
//!   source, and a day's devices cannot be matched to its pages.
//! - **Dimensions**: pages, countries (regions and cities summed), devices,
//!   browsers (and their major versions), operating systems, referrer
//!   sources and hosts, UTM source, medium and campaign, custom events;
//!   Plausible's names become this system's where they differ ("Mac" is
//!   "Mac OS X", "Microsoft Edge" is "Edge", a laptop is a desktop).
//! - **Visitors**: the export says how many, not who. A day's N visitors
//!   become N ids of a pool of that day (keyed with the site's secret), and
//!   a value's n visitors the first n of them. So a day's figure, and every
//!   value's, is the exported one (as an HLL estimate, exact up to 160),
//!   and a range sums the days' visitors, as Plausible itself does
//!   with imported data.
//! - **Visits**: the day's visits, bounces and total visit duration, and the
//!   entry and exit pages.
//! - **Progress**: one row per site; a run applies whole days after the last
//!   day an earlier run applied. An export that overlaps an earlier one
//!   therefore adds only its new days, and no day is counted twice.
//!
//! The export is read into memory first (about 100 bytes a row).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use analytics_events::clean::{clean, limits};
use analytics_events::{Dimension, TrafficSource};
use analytics_store::sites::Site;
use anyhow::Context;
use chrono::{Datelike, NaiveDate};

use super::driver::{Chunk, Import, Reader, Summary};
use super::{Importer, Month, Position};
use crate::apply::Aggregates;
use crate::rollup::{Counts, DimensionKey};
use crate::sessions::VisitTotals;

/// The `source` of this importer's progress rows.
const SOURCE: &str = "plausible";
/// The `source_table` of its one progress row per site: days are applied
/// once whichever export they come from.
const TABLE: &str = "export";
/// Imported traffic is all web: Plausible does not tell sources apart.
const WEB: &str = TrafficSource::Web.as_str();

/// Largest count a cell may hold: far above any real day, far below sums
/// that could overflow.
const MAX_COUNT: i64 = 1 << 40;
/// Largest number of visitors of one day or value: each becomes an id
/// hashed into a sketch, so a corrupt count must not mean billions.
const MAX_VISITORS: i64 = 10_000_000;

/// What to read and how much.
pub struct Args {
    pub zip: PathBuf,
    pub site: String,
    /// Stop after about this many rows (whole days; the rest is left for
    /// the next run).
    pub max_rows: Option<i64>,
}

/// Months of the days not imported yet, with their CSV rows.
pub async fn dry_run(importer: &Importer, args: &Args) -> anyhow::Result<Vec<Month>> {
    let (site, export) = open(importer, args).await?;
    let after = importer.resume_after(site.id, SOURCE, TABLE).await?.map_or(i64::MIN, |p| p.key);
    let mut months: BTreeMap<String, i64> = BTreeMap::new();
    for (day, figures) in &export.days {
        if day_key(*day) > after {
            *months.entry(day.format("%Y-%m").to_string()).or_default() += figures.rows;
        }
    }
    Ok(months.into_iter().map(|(month, rows)| Month { month, rows }).collect())
}

/// Imports the days after the last day applied, a chunk of days at a time.
pub async fn run(importer: &Importer, args: &Args) -> anyhow::Result<Summary> {
    let (site, export) = open(importer, args).await?;
    let import = Import { site_id: site.id, source: SOURCE, table: TABLE, max_rows: args.max_rows };
    let window = super::time_window(importer);
    let days = |ms: i64| crate::rollup::local_bucket(ms, site.timezone).map(|(day, _)| day);
    let window = days(*window.start()).zip(days(*window.end())).map(|(first, last)| first..=last);
    let window = window.context("the import window has no local days")?;
    super::driver::drive(importer, import, &mut ExportReader { export, site, window }).await
}

async fn open(importer: &Importer, args: &Args) -> anyhow::Result<(Site, Export)> {
    let site = importer.site(&args.site).await?;
    let file = std::fs::File::open(&args.zip).with_context(|| format!("--zip {}", args.zip.display()))?;
    let export = Export::read(file).with_context(|| format!("--zip {}", args.zip.display()))?;
    Ok((site, export))
}

/// The export's days in order.
struct ExportReader {
    export: Export,
    site: Site,
    /// Days the rollups keep (retention) up to tomorrow.
    window: std::ops::RangeInclusive<NaiveDate>,
}

impl Reader for ExportReader {
    async fn remaining(&mut self, after: Option<&Position>) -> anyhow::Result<i64> {
        let after = after.map_or(i64::MIN, |p| p.key);
        Ok(self.export.days.iter().filter(|(day, _)| day_key(**day) > after).map(|(_, d)| d.rows).sum())
    }

    async fn next(&mut self, after: Option<&Position>, limit: i64) -> anyhow::Result<Option<Chunk>> {
        let after = after.map_or(i64::MIN, |p| p.key);
        let mut chunk = Chunk { aggregates: Some(Aggregates::default()), ..Default::default() };
        for (day, figures) in self.export.days.iter().filter(|(day, _)| day_key(**day) > after) {
            // Whole days only: the progress key is the day.
            if chunk.rows_read > 0 && chunk.rows_read + figures.rows > limit {
                break;
            }
            chunk.rows_read += figures.rows;
            chunk.last = Position { key: day_key(*day), id: String::new() };
            if !self.window.contains(day) {
                chunk.out_of_range += figures.rows;
                continue;
            }
            let aggregates = chunk.aggregates.get_or_insert_with(Aggregates::default);
            figures.add_to(aggregates, &self.site, *day);
            chunk.days = Some(chunk.days.map_or((*day, *day), |(first, last)| (first.min(*day), last.max(*day))));
        }
        Ok((chunk.rows_read > 0).then_some(chunk))
    }
}

/// A day as a progress key.
fn day_key(day: NaiveDate) -> i64 {
    i64::from(day.num_days_from_ce())
}

/// Every day's figures of an export.
#[derive(Debug, Default)]
struct Export {
    days: BTreeMap<NaiveDate, DayFigures>,
}

/// The tables of an export this importer reads; others are skipped.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Table {
    Visitors,
    Pages,
    EntryPages,
    ExitPages,
    Sources,
    Locations,
    Devices,
    Browsers,
    OperatingSystems,
    CustomEvents,
}

impl Table {
    /// The table a file of the export holds, by its name:
    /// `[imported_]<table>_<YYYYMMDD>_<YYYYMMDD>.csv`, in any folder.
    fn of_file(path: &str) -> Option<Table> {
        let name = path.rsplit('/').next()?.strip_suffix(".csv")?;
        let name = name.strip_prefix("imported_").unwrap_or(name);
        let (table, dates) = name.split_at_checked(name.len().checked_sub(18)?)?;
        let dates_ok = dates.len() == 18
            && dates.as_bytes()[0] == b'_'
            && dates.as_bytes()[9] == b'_'
            && dates.bytes().enumerate().all(|(i, b)| i == 0 || i == 9 || b.is_ascii_digit());
        if !dates_ok {
            return None;
        }
        Some(match table {
            "visitors" => Table::Visitors,
            "pages" => Table::Pages,
            "entry_pages" => Table::EntryPages,
            "exit_pages" => Table::ExitPages,
            "sources" => Table::Sources,
            "locations" => Table::Locations,
            "devices" => Table::Devices,
            "browsers" => Table::Browsers,
            "operating_systems" => Table::OperatingSystems,
            "custom_events" => Table::CustomEvents,
            _ => return None,
        })
    }
}

impl Export {
    /// Reads every CSV of the zip this importer knows.
    fn read(file: impl Read + std::io::Seek) -> anyhow::Result<Self> {
        let mut zip = zip::ZipArchive::new(file).context("not a zip archive")?;
        let mut export = Export::default();
        let mut tables = 0;
        for i in 0..zip.len() {
            let entry = zip.by_index(i)?;
            let name = entry.name().to_owned();
            let Some(table) = Table::of_file(&name) else {
                tracing::warn!(file = name, "not a table of Plausible's export: skipped");
                continue;
            };
            export.read_table(table, entry).with_context(|| name.clone())?;
            tables += 1;
        }
        anyhow::ensure!(
            tables > 0,
            "no table of Plausible's CSV export in it (files named like imported_pages_20240101_20241231.csv)"
        );
        Ok(export)
    }

    fn read_table(&mut self, table: Table, csv: impl Read) -> anyhow::Result<()> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(csv);
        let headers = reader.headers()?.clone();
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record)? {
            let line = record.position().map_or(0, |p| p.line());
            let row = Row { headers: &headers, record: &record };
            let day = row.date().with_context(|| format!("line {line}"))?;
            let figures = self.days.entry(day).or_default();
            figures.rows += 1;
            figures.add(table, &row).with_context(|| format!("line {line}"))?;
        }
        Ok(())
    }
}

/// One CSV row, its cells found by the header's names (Plausible's column
/// order has changed between versions, the names have not).
struct Row<'a> {
    headers: &'a csv::StringRecord,
    record: &'a csv::StringRecord,
}

impl Row<'_> {
    fn text(&self, column: &str) -> anyhow::Result<&str> {
        let index = self.headers.iter().position(|h| h.trim() == column);
        let index = index.with_context(|| format!("no column {column:?}"))?;
        Ok(self.record.get(index).unwrap_or_default().trim())
    }

    fn count(&self, column: &str) -> anyhow::Result<i64> {
        let text = self.text(column)?;
        if text.is_empty() {
            return Ok(0);
        }
        let count: i64 = text.parse().with_context(|| format!("{column}: {text:?} is not a count"))?;
        anyhow::ensure!((0..=MAX_COUNT).contains(&count), "{column}: {count} is out of range");
        Ok(count)
    }

    /// A `visitors` count, at most [`MAX_VISITORS`].
    fn visitors(&self) -> anyhow::Result<i64> {
        let visitors = self.count("visitors")?;
        anyhow::ensure!(visitors <= MAX_VISITORS, "visitors: {visitors} is more than {MAX_VISITORS} a day");
        Ok(visitors)
    }

    fn date(&self) -> anyhow::Result<NaiveDate> {
        let text = self.text("date")?;
        NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| format!("date: {text:?} is not YYYY-MM-DD"))
    }
}

/// A day's figures, from every table.
#[derive(Debug, Default)]
struct DayFigures {
    /// CSV rows of the day, over all tables.
    rows: i64,
    /// From `imported_visitors`, when the export has it.
    totals: Option<Totals>,
    /// Per dimension and value, summed over the rows that name it.
    values: BTreeMap<(Dimension, String), Figures>,
    /// Visits that began (entry) or ended (exit) on each page.
    entries: BTreeMap<String, i64>,
    exits: BTreeMap<String, i64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    visitors: i64,
    pageviews: i64,
    visits: i64,
    bounces: i64,
    visit_duration_s: i64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    pageviews: i64,
    events: i64,
    visitors: i64,
}

impl DayFigures {
    fn add(&mut self, table: Table, row: &Row) -> anyhow::Result<()> {
        let counts = |events: bool| -> anyhow::Result<Figures> {
            Ok(Figures {
                pageviews: if events { 0 } else { row.count("pageviews")? },
                events: if events { row.count("events")? } else { 0 },
                visitors: row.visitors()?,
            })
        };
        match table {
            Table::Visitors => {
                let totals = Totals {
                    visitors: row.visitors()?,
                    pageviews: row.count("pageviews")?,
                    visits: row.count("visits")?,
                    bounces: row.count("bounces")?,
                    visit_duration_s: row.count("visit_duration")?,
                };
                self.totals = Some(totals);
            }
            Table::Pages => self.value(Dimension::Page, page(row.text("page")?), counts(false)?),
            Table::EntryPages => {
                *self.entries.entry(page(row.text("entry_page")?)).or_default() += row.count("entrances")?;
            }
            Table::ExitPages => *self.exits.entry(page(row.text("exit_page")?)).or_default() += row.count("exits")?,
            Table::Sources => {
                let figures = counts(false)?;
                let source = row.text("source")?;
                if !source.is_empty() && source != "Direct / None" {
                    self.value(Dimension::ReferrerSource, text(source, limits::HOSTNAME), figures);
                    if let Some(host) = referrer_host(row.text("referrer")?) {
                        self.value(Dimension::Referrer, host, figures);
                    }
                }
                for (dimension, column) in [
                    (Dimension::UtmSource, "utm_source"),
                    (Dimension::UtmMedium, "utm_medium"),
                    (Dimension::UtmCampaign, "utm_campaign"),
                ] {
                    let value = text(row.text(column)?, limits::UTM);
                    if !value.is_empty() {
                        self.value(dimension, value, figures);
                    }
                }
            }
            Table::Locations => self.value(Dimension::Country, country(row.text("country")?), counts(false)?),
            Table::Devices => self.value(Dimension::Device, device(row.text("device")?).into(), counts(false)?),
            Table::Browsers => {
                let figures = counts(false)?;
                let browser = browser(row.text("browser")?);
                let version = match major(row.text("browser_version")?) {
                    Some(major) => format!("{browser} {major}"),
                    None => browser.clone(),
                };
                self.value(Dimension::Browser, browser, figures);
                self.value(Dimension::BrowserVersion, version, figures);
            }
            Table::OperatingSystems => {
                self.value(Dimension::Os, operating_system(row.text("operating_system")?), counts(false)?);
            }
            Table::CustomEvents => {
                let name = text(row.text("name")?, limits::EVENT_NAME);
                if !name.is_empty() {
                    self.value(Dimension::Event, name, counts(true)?);
                }
            }
        }
        Ok(())
    }

    fn value(&mut self, dimension: Dimension, value: String, figures: Figures) {
        let sum = self.values.entry((dimension, value)).or_default();
        sum.pageviews = sum.pageviews.saturating_add(figures.pageviews);
        sum.events = sum.events.saturating_add(figures.events);
        sum.visitors = sum.visitors.saturating_add(figures.visitors).min(MAX_VISITORS);
    }

    /// The day's totals: the exported ones, else what its pages and
    /// events add up to.
    fn totals(&self) -> Totals {
        self.totals.unwrap_or_else(|| {
            let of = |dimension| self.values.iter().filter(move |((d, _), _)| *d == dimension).map(|(_, f)| f);
            Totals {
                visitors: self.values.values().map(|f| f.visitors).max().unwrap_or(0),
                pageviews: of(Dimension::Page).map(|f| f.pageviews).sum(),
                ..Default::default()
            }
        })
    }

    /// Adds the day's figures, as rows of `site` on `day`, to `aggregates`.
    fn add_to(&self, aggregates: &mut Aggregates, site: &Site, day: NaiveDate) {
        let totals = self.totals();
        let events: i64 = self.values.iter().filter(|((d, _), _)| *d == Dimension::Event).map(|(_, f)| f.events).sum();
        let pool = visitor_pool(&site.install_secret, day);
        // A value's visitors are the first of the day's: never more than the day has.
        let day_visitors = self.values.values().map(|f| f.visitors).fold(totals.visitors, i64::max);
        let run = |visitors: i64| match visitors.min(day_visitors) {
            0 => Vec::new(),
            n => vec![(pool, n)],
        };
        let deltas = &mut aggregates.deltas;
        let day_counts =
            Counts { pageviews: totals.pageviews, events, visitor_runs: run(totals.visitors), ..Default::default() };
        deltas.days.insert((site.id, day, WEB), day_counts);
        deltas.counted += usize::try_from(totals.pageviews.saturating_add(events)).unwrap_or(usize::MAX);
        for ((dimension, value), figures) in &self.values {
            let key = DimensionKey {
                site_id: site.id,
                period: day,
                dimension: dimension.as_str(),
                source: WEB,
                value: value.clone(),
            };
            let counts = Counts {
                pageviews: figures.pageviews,
                events: figures.events,
                visitor_runs: run(figures.visitors),
                ..Default::default()
            };
            deltas.dimensions.insert(key, counts);
        }
        let visits = &mut aggregates.visits;
        if let Some(exported) = self.totals {
            let totals = VisitTotals {
                visits: exported.visits,
                bounces: exported.bounces,
                duration_ms: exported.visit_duration_s.saturating_mul(1000),
                pageviews: exported.pageviews,
            };
            visits.totals.insert((site.id, day, WEB.to_owned()), totals);
        }
        for (kind, pages) in [("entry", &self.entries), ("exit", &self.exits)] {
            for (page, n) in pages.iter().filter(|(_, n)| **n > 0) {
                visits.pages.insert((site.id, day, kind, WEB.to_owned(), page.clone()), *n);
            }
        }
    }
}

/// The first id of `day`'s pool of visitor ids: a keyed hash, positive and
/// with its low 32 bits clear, so that no run of it overflows or reaches
/// the next pool.
fn visitor_pool(secret: &[u8; 32], day: NaiveDate) -> i64 {
    let hash = super::keyed_visitor(secret, "plausible-day", day, &[]);
    ((hash >> 1) & !0xFFFF_FFFF) as i64
}

/// `value` as a stored dimension value may be (see ingest's cleaning).
fn text(value: &str, max_bytes: usize) -> String {
    clean(value, max_bytes).trim().to_owned()
}

fn page(path: &str) -> String {
    crate::rollup::page_of(&text(path, limits::PATH)).to_owned()
}

/// Plausible's referrer (a URL, with or without its scheme) as a host.
fn referrer_host(referrer: &str) -> Option<String> {
    let referrer = text(referrer, limits::REFERRER);
    if referrer.is_empty() {
        return None;
    }
    let url = if referrer.contains("://") { referrer } else { format!("https://{referrer}") };
    crate::referrer::referral(&url, &[]).map(|r| r.host)
}

/// A two-letter code, as ingest keeps them; anything else is unknown.
fn country(code: &str) -> String {
    let code = code.trim().to_ascii_uppercase();
    match code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) && code != "ZZ" {
        true => code,
        false => "unknown".to_owned(),
    }
}

fn device(name: &str) -> &'static str {
    match name.to_ascii_lowercase().as_str() {
        "desktop" | "laptop" => "desktop",
        "mobile" => "mobile",
        "tablet" => "tablet",
        _ => "unknown",
    }
}

/// Plausible's browser names that differ from uap-core's.
fn browser(name: &str) -> String {
    match name {
        "" | "(not set)" => "Other".to_owned(),
        "Microsoft Edge" => "Edge".to_owned(),
        "Internet Explorer" => "IE".to_owned(),
        other => text(other, limits::UTM),
    }
}

/// Plausible's system names that differ from uap-core's.
fn operating_system(name: &str) -> String {
    match name {
        "" | "(not set)" => "Other".to_owned(),
        "Mac" => "Mac OS X".to_owned(),
        "GNU/Linux" => "Linux".to_owned(),
        other => text(other, limits::UTM),
    }
}

/// A version's major number ("126.0.6478" is 126), if it has one.
fn major(version: &str) -> Option<u32> {
    version.split('.').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_files_are_known_by_name() {
        assert_eq!(Table::of_file("imported_pages_20240101_20241231.csv"), Some(Table::Pages));
        assert_eq!(Table::of_file("exports/operating_systems_20240101_20241231.csv"), Some(Table::OperatingSystems));
        assert_eq!(Table::of_file("imported_entry_pages_20240101_20241231.csv"), Some(Table::EntryPages));
        for other in ["pages.csv", "imported_pages_2024_2025.csv", "imported_goals_20240101_20241231.csv", "x.csv", ""]
        {
            assert_eq!(Table::of_file(other), None, "{other:?}");
        }
    }

    #[test]
    fn plausible_names_become_ours() {
        assert_eq!(country("ee"), "EE");
        assert_eq!(country(""), "unknown");
        assert_eq!(country("ZZ"), "unknown");
        assert_eq!(device("Laptop"), "desktop");
        assert_eq!(browser("Microsoft Edge"), "Edge");
        assert_eq!(operating_system("Mac"), "Mac OS X");
        assert_eq!(major("126.0.6478"), Some(126));
        assert_eq!(major("(not set)"), None);
        assert_eq!(referrer_host("news.ycombinator.com/item?id=1").as_deref(), Some("news.ycombinator.com"));
        assert_eq!(referrer_host("https://www.google.com/").as_deref(), Some("google.com"));
        assert_eq!(page("/a\u{0}b"), "/ab");
        assert_eq!(page(""), crate::rollup::NO_PAGE);
    }

    #[test]
    fn pools_of_days_never_meet() {
        let secret = [7u8; 32];
        let day = NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date");
        let first = visitor_pool(&secret, day);
        let next = visitor_pool(&secret, day.succ_opt().expect("a day"));
        assert!(first >= 0 && first & 0xFFFF_FFFF == 0);
        assert!(first.checked_add(MAX_VISITORS).is_some());
        assert_ne!(first, next);
        assert_ne!(first, visitor_pool(&[8u8; 32], day));
    }
}
