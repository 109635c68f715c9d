//! History from another system, applied through the same path as live
//! batches ([`Applier`]), so imported rows become rollups and visits exactly
//! as events would. Each chunk of source rows is one transaction that also
//! moves the import's progress row (table `imports`): a second run starts
//! after the last key applied and adds nothing, and a run killed half-way
//! resumes where its last commit left it. Two runs of the same import at
//! once cannot both apply a chunk: the progress row only moves from the key
//! its run started from.

pub mod django;

use std::collections::HashMap;
use std::path::PathBuf;

use analytics_config::PostgresSettings;
use analytics_events::Event;
use analytics_store::sites::SiteDirectory;
use chrono::NaiveDate;
use serde::Deserialize;
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::apply::{Applier, ApplyError, Finish, Outcome};
use crate::classify::Classifier;
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
            partitions: Partitions::default(),
            sessions: settings.sessions,
            max_values_per_day: settings.max_values_per_day,
        };
        Ok(Self { applier, retention_days: settings.retention_days, chunk_rows: settings.chunk_rows.max(1) })
    }

    /// The last key an earlier run of this import applied.
    pub async fn resume_after(&self, site_id: Uuid, source: &str, table: &str) -> anyhow::Result<Option<i64>> {
        let client = self.applier.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT last_key FROM imports WHERE site_id = $1 AND source = $2 AND source_table = $3",
                &[&site_id, &source, &table],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Applies one chunk's events and moves its progress, in one transaction.
    pub async fn apply(&self, progress: &Progress, events: Vec<Event>) -> Result<Outcome, ApplyError> {
        let batch = Incoming { id: Uuid::now_v7(), size: events.len(), events, dropped: HashMap::new() };
        self.applier.transaction(std::slice::from_ref(&batch), Finish::Commit, Some(progress)).await
    }
}

/// Where an import stands after a chunk: written with the chunk's rollups.
#[derive(Debug, Clone)]
pub struct Progress {
    pub site_id: Uuid,
    pub source: &'static str,
    pub table: String,
    /// The key this run last applied (or resumed after); `None` before the
    /// first chunk of the first run.
    pub after: Option<i64>,
    /// The chunk's last key.
    pub last_key: i64,
    /// Source rows the chunk covers, counted or not.
    pub rows_read: i64,
    /// Local days of the chunk's counted rows.
    pub days: Option<(NaiveDate, NaiveDate)>,
}

impl Progress {
    /// Moves the progress row from `after` to `last_key`; refuses when
    /// another run moved it meanwhile (its rows would be applied twice).
    pub(crate) async fn advance(&self, transaction: &Transaction<'_>) -> Result<(), ApplyError> {
        let (first_day, last_day) = self.days.unzip();
        let moved = transaction
            .execute(
                "INSERT INTO imports AS i (site_id, source, source_table, last_key, rows_read, first_day, last_day)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (site_id, source, source_table) DO UPDATE SET
                     last_key = EXCLUDED.last_key,
                     rows_read = i.rows_read + EXCLUDED.rows_read,
                     first_day = least(i.first_day, EXCLUDED.first_day),
                     last_day = greatest(i.last_day, EXCLUDED.last_day),
                     updated_at = now()
                 WHERE i.last_key IS NOT DISTINCT FROM $8",
                &[
                    &self.site_id,
                    &self.source,
                    &self.table,
                    &self.last_key,
                    &self.rows_read,
                    &first_day,
                    &last_day,
                    &self.after,
                ],
            )
            .await?;
        if moved == 0 {
            // Not retried by the import: the other run owns the rows.
            return Err(ApplyError::Transient(anyhow::anyhow!(
                "another run of this import moved past key {:?}: run it again to resume",
                self.after
            )));
        }
        Ok(())
    }
}
