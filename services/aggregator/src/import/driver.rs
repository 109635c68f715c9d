//! The loop every import shares: read a chunk after the last position
//! applied, apply it with its progress, report, until the source is done
//! (or `--max-rows` is reached).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use analytics_events::Event;
use anyhow::Context;
use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

use super::{Importer, Position, Progress};
use crate::apply::Aggregates;
use crate::classify::Client;

/// Source rows, converted: what one transaction applies.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Rows read, counted or not.
    pub rows_read: i64,
    /// Where the chunk ends in the source's order.
    pub last: Position,
    pub events: Vec<Event>,
    /// Each event's client, when the source states it (else empty).
    pub clients: Vec<Arc<Client>>,
    /// Figures the source had already summed per day, instead of events.
    pub aggregates: Option<Aggregates>,
    /// Local days of the events (or figures).
    pub days: Option<(NaiveDate, NaiveDate)>,
    /// Rows the site's rules leave out.
    pub excluded: i64,
    /// Rows older than the rollups keep, or more than a day ahead.
    pub out_of_range: i64,
}

impl Chunk {
    /// An event on local `day`, with the client its source stated.
    pub fn push(&mut self, event: Event, day: NaiveDate, client: Option<Arc<Client>>) {
        self.days = Some(self.days.map_or((day, day), |(first, last)| (first.min(day), last.max(day))));
        self.events.push(event);
        self.clients.extend(client);
    }
}

/// A source, read in its own order.
pub trait Reader {
    /// How many rows there are after `after` (all when `None`), for the ETA.
    fn remaining(&mut self, after: Option<&Position>) -> impl std::future::Future<Output = anyhow::Result<i64>>;

    /// Up to `limit` rows after `after` (from the start when `None`),
    /// converted; `None` when there are no more.
    fn next(
        &mut self,
        after: Option<&Position>,
        limit: i64,
    ) -> impl std::future::Future<Output = anyhow::Result<Option<Chunk>>>;
}

/// What a run did; printed as JSON at the end.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub rows_read: i64,
    /// Pageviews and events counted.
    pub counted: usize,
    pub excluded: i64,
    /// Rows older than the rollups keep, or more than a day ahead.
    pub out_of_range: i64,
    /// Dropped by the aggregator's checks (bots, mostly), by reason.
    pub dropped: BTreeMap<String, usize>,
    /// Where the import now stands (see table `imports`).
    pub last_key: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_id: Option<String>,
    pub seconds: f64,
    pub rows_per_second: f64,
}

/// What one import reads and where its progress is kept.
pub struct Import<'a> {
    pub site_id: Uuid,
    pub source: &'static str,
    pub table: &'a str,
    pub max_rows: Option<i64>,
}

/// Applies `reader`'s chunks after the position an earlier run reached.
/// The next chunk is read and converted while the one before is applied:
/// the source and the rollups are different connections, and converting
/// (user agents, hashes) is work the rollups' transaction need not wait for.
pub async fn drive(importer: &Importer, import: Import<'_>, reader: &mut impl Reader) -> anyhow::Result<Summary> {
    let mut after = importer.resume_after(import.site_id, import.source, import.table).await?;
    let remaining = reader.remaining(after.as_ref()).await?;
    let mut summary = Summary::default();
    let mut meter = Meter::new(import.max_rows.map_or(remaining, |max| remaining.min(max)));
    // Rows still to read when `--max-rows` bounds the run.
    let limit = |read: i64| import.max_rows.map_or(importer.chunk_rows, |max| importer.chunk_rows.min(max - read));
    let mut next = match limit(0) {
        rows if rows <= 0 => None,
        first => reader.next(after.as_ref(), first).await?,
    };
    while let Some(chunk) = next {
        let Chunk { rows_read, last, events, clients, aggregates, days, excluded, out_of_range } = chunk;
        let read = summary.rows_read + rows_read;
        let following = async {
            match limit(read) {
                // A reader of whole days may read past `--max-rows`.
                rows if rows <= 0 => Ok(None),
                rows => reader.next(Some(&last), rows).await,
            }
        };
        let progress = Progress {
            site_id: import.site_id,
            source: import.source,
            table: import.table.to_owned(),
            after: after.clone(),
            last: last.clone(),
            rows_read,
            days,
        };
        let applied = async {
            match aggregates {
                Some(aggregates) => importer.apply_aggregates(&progress, aggregates).await,
                None => importer.apply(&progress, events, clients).await,
            }
        };
        let (outcome, following) = tokio::join!(applied, following);
        let outcome = outcome.with_context(|| format!("applying the rows after {after:?} up to {last:?}"))?;
        next = following?;
        summary.counted += outcome.counted;
        for (reason, n) in outcome.dropped {
            *summary.dropped.entry(reason.to_owned()).or_default() += n;
        }
        summary.rows_read = read;
        summary.excluded += excluded;
        summary.out_of_range += out_of_range;
        meter.show(summary.rows_read);
        after = Some(last);
    }
    meter.finish();
    summary.last_key = after.as_ref().map(|p| p.key);
    summary.last_id = after.map(|p| p.id).filter(|id| !id.is_empty());
    summary.seconds = meter.started.elapsed().as_secs_f64();
    summary.rows_per_second = summary.rows_read as f64 / summary.seconds.max(1e-9);
    Ok(summary)
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

    fn show(&mut self, rows: i64) {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = rows as f64 / elapsed;
        let eta = (self.total - rows).max(0) as f64 / rate.max(1e-9);
        let line = format!("{rows}/{} rows, {rate:.0} rows/s, ETA {eta:.0} s", self.total);
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
