//! History from another system, applied through the same path as live
//! batches ([`Applier`]), so imported rows become rollups and visits exactly
//! as events would. Each chunk of source rows is one transaction that also
//! moves the import's progress row (table `imports`): a second run starts
//! after the last key applied and adds nothing, and a run killed half-way
//! resumes where its last commit left it. Two runs of the same import at
//! once cannot both apply a chunk: the progress row only moves from the key
//! its run started from.

pub mod django;
pub mod driver;
pub mod plausible;
pub mod umami;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use analytics_config::PostgresSettings;
use analytics_events::Event;
use analytics_store::sites::{Site, SiteDirectory};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::apply::{Aggregates, Applier, ApplyError, Outcome};
use crate::classify::{Classifier, Client};
use crate::incoming::Incoming;
use crate::partitions::Partitions;

/// `[import]` settings of `analytics-ctl`: the aggregator's own choices
/// (user-agent patterns, visits, value bound, retention) must be the same
/// here, or imported days would be counted differently from live ones.
#[derive(Debug, Clone, Deserialize)]
pub struct ImportSettings {
    pub ua_regexes: PathBuf,
    pub ua_cache_size: usize,
    pub sessions: bool,
    pub max_values_per_day: i64,
    /// Rows older than this many days are not imported: retention would
    /// drop their partitions anyway.
    pub retention_days: u64,
    /// Source rows per transaction.
    pub chunk_rows: i64,
    /// Imported events are kept too (see the aggregator's settings), those
    /// of the last `raw_retention_days` days.
    pub keep_events: bool,
    pub raw_retention_days: u64,
}

/// The rollup writer of an import.
pub struct Importer {
    applier: Applier,
    retention_days: u64,
    chunk_rows: i64,
}

impl Importer {
    pub async fn new(postgres: &PostgresSettings, settings: &ImportSettings) -> anyhow::Result<Self> {
        let pool = analytics_store::pg_pool(postgres)?;
        let sites = SiteDirectory::new(pool.clone(), postgres);
        sites.refresh().await?;
        let classifier =
            Classifier::load(&settings.ua_regexes, settings.ua_cache_size, prometheus::IntGauge::new("unused", "-")?)?;
        let applier = Applier {
            pool,
            sites,
            classifier,
            partitions: Partitions::new(settings.keep_events.then_some(settings.raw_retention_days)),
            sessions: settings.sessions,
            max_values_per_day: settings.max_values_per_day,
        };
        Ok(Self { applier, retention_days: settings.retention_days, chunk_rows: settings.chunk_rows.max(1) })
    }

    /// Where an earlier run of this import stopped.
    pub async fn resume_after(&self, site_id: Uuid, source: &str, table: &str) -> anyhow::Result<Option<Position>> {
        let client = self.applier.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT last_key, last_id FROM imports WHERE site_id = $1 AND source = $2 AND source_table = $3",
                &[&site_id, &source, &table],
            )
            .await?;
        Ok(row.map(|r| Position { key: r.get(0), id: r.get(1) }))
    }

    /// Applies one chunk's events (with their clients, when the source
    /// states them instead of user agents) and moves its progress, in one
    /// transaction. Events Postgres refuses are dropped and counted as the
    /// aggregator does with live batches, so that one bad row cannot stop
    /// an import (and every rerun of it) at its chunk.
    pub async fn apply(
        &self,
        progress: &Progress,
        events: Vec<Event>,
        clients: Vec<Arc<Client>>,
    ) -> anyhow::Result<Outcome> {
        let batch = Incoming { id: Uuid::now_v7(), size: events.len(), events, dropped: HashMap::new(), clients };
        let outcome = self.applier.apply_tracked(&batch, progress).await?;
        if let Some((_, why)) = outcome.refused_batches.first() {
            anyhow::bail!("Postgres refuses the chunk as a whole: {why}");
        }
        Ok(outcome)
    }

    /// Applies one chunk of figures summed per day (no events) and moves
    /// its progress, in one transaction.
    pub async fn apply_aggregates(&self, progress: &Progress, aggregates: Aggregates) -> anyhow::Result<Outcome> {
        Ok(self.applier.apply_aggregates(aggregates, progress).await?)
    }

    /// The site to import into, by id or domain.
    pub async fn site(&self, id_or_domain: &str) -> anyhow::Result<Site> {
        let client = self.applier.pool.get().await?;
        analytics_store::sites::site_argument(&client, id_or_domain).await
    }
}

/// A connection to the database history is read from (only read).
pub async fn connect_source(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    analytics_store::connect(url).await.map_err(|e| anyhow::anyhow!("--database-url: {e:#}"))
}

/// The times a row may have, in milliseconds: from the oldest day the
/// rollups keep to a day ahead (what the aggregator accepts from the
/// broker); rows outside are skipped and counted.
fn time_window(importer: &Importer) -> std::ops::RangeInclusive<i64> {
    let window = crate::incoming::TimeWindow::around(chrono::Utc::now().timestamp_millis(), importer.retention_days);
    window.earliest_ms..=window.latest_ms
}

/// A visitor id from what the source identified visitors by (`parts`), for
/// one local `day`, keyed with the site's secret. `label` keeps the kinds
/// of identifiers apart.
fn keyed_visitor(secret: &[u8; 32], label: &str, day: NaiveDate, parts: &[&str]) -> u64 {
    use chrono::Datelike;
    let day = day.num_days_from_ce().to_le_bytes();
    let head = [label.as_bytes(), &day[..]];
    analytics_events::identity::keyed_id(secret, head.into_iter().chain(parts.iter().map(|p| p.as_bytes())))
}

/// Rows per month still to import, for `--dry-run`.
#[derive(Debug, Serialize)]
pub struct Month {
    pub month: String,
    pub rows: i64,
}

/// A place in a source's order: a key (and an id where keys can repeat).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Position {
    pub key: i64,
    pub id: String,
}

/// Where an import stands after a chunk: written with the chunk's rollups.
#[derive(Debug, Clone)]
pub struct Progress {
    pub site_id: Uuid,
    pub source: &'static str,
    pub table: String,
    /// Where this run last applied (or resumed after); `None` before the
    /// first chunk of the first run.
    pub after: Option<Position>,
    /// Where the chunk ends.
    pub last: Position,
    /// Source rows the chunk covers, counted or not.
    pub rows_read: i64,
    /// Local days of the chunk's counted rows.
    pub days: Option<(NaiveDate, NaiveDate)>,
}

impl Progress {
    /// Moves the progress row from `after` to `last`; refuses when
    /// another run moved it meanwhile (its rows would be applied twice).
    pub(crate) async fn advance(&self, transaction: &Transaction<'_>) -> Result<(), ApplyError> {
        let (first_day, last_day) = self.days.unzip();
        let (after_key, after_id) = self.after.as_ref().map(|a| (a.key, a.id.as_str())).unzip();
        let moved = transaction
            .execute(
                "INSERT INTO imports AS i
                     (site_id, source, source_table, last_key, last_id, rows_read, first_day, last_day)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (site_id, source, source_table) DO UPDATE SET
                     last_key = EXCLUDED.last_key,
                     last_id = EXCLUDED.last_id,
                     rows_read = i.rows_read + EXCLUDED.rows_read,
                     first_day = least(i.first_day, EXCLUDED.first_day),
                     last_day = greatest(i.last_day, EXCLUDED.last_day),
                     updated_at = now()
                 WHERE (i.last_key, i.last_id) IS NOT DISTINCT FROM ($9::int8, $10::text)",
                &[
                    &self.site_id,
                    &self.source,
                    &self.table,
                    &self.last.key,
                    &self.last.id,
                    &self.rows_read,
                    &first_day,
                    &last_day,
                    &after_key,
                    &after_id,
                ],
            )
            .await?;
        if moved == 0 {
            // Not retried by the import: the other run owns the rows.
            return Err(ApplyError::Transient(anyhow::anyhow!(
                "another run of this import moved past {:?}: run it again to resume",
                self.after
            )));
        }
        Ok(())
    }
}
