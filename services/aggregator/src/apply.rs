//! One transaction per group of deliveries: record their batch ids, apply the
//! deltas of the batches not seen before, commit. Only then are they acked.
//!
//! When Postgres refuses the data itself (a value it cannot store, a key too
//! large for an index), retrying the same rows would fail forever and stop
//! all counting behind them. So a refused group is split until the batch,
//! then the event, that Postgres refuses is found: that event is dropped and
//! counted, the rest of its batch is applied exactly once, and a batch that
//! still cannot be applied is handed back to be dead-lettered. Anything
//! else (a lost connection, a deadlock, a shutdown) is retried as it is.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use analytics_store::PgPool;
use analytics_store::sites::{Site, SiteDirectory};
use futures_util::future::BoxFuture;
use tokio_postgres::Transaction;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::classify::Classifier;
use crate::incoming::Incoming;
use crate::partitions::Partitions;
use chrono::Datelike;

use crate::rollup::{Counts, Deltas, DimensionKey, DropReason, Histogram, local_bucket};
use crate::weeks::DimensionTables;

/// Why a group was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Worth retrying as it is: the database or the site list is unreachable,
    /// a lock or a deadlock, a shutdown, a partition dropped under us.
    #[error("{0:#}")]
    Transient(anyhow::Error),
    /// Postgres refuses the data (SQLSTATE class 22, 23 or 54): the same rows
    /// would be refused again.
    #[error("refused by Postgres: {0:#}")]
    Refused(anyhow::Error),
}

impl From<tokio_postgres::Error> for ApplyError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.code().cloned() {
            // The code leads the message: it says what was refused, and ends
            // up in a dead letter's reason header.
            Some(code) if refuses_data(&code) => {
                ApplyError::Refused(anyhow::Error::from(error).context(format!("SQLSTATE {}", code.code())))
            }
            _ => ApplyError::Transient(error.into()),
        }
    }
}

/// Data exceptions (22: invalid text, out-of-range numbers or dates),
/// integrity violations (23) but the check violation of a row without a
/// partition (which the retry creates), and program limits (54: an index
/// row too large). Syntax and schema errors (42) stay transient on purpose:
/// they are our bug, not the data's, and dropping every event that meets
/// them would be far worse than stopping.
fn refuses_data(code: &SqlState) -> bool {
    match &code.code()[..2] {
        "22" | "54" => true,
        "23" => *code != SqlState::CHECK_VIOLATION,
        _ => false,
    }
}

/// Drop reason of an event Postgres refused (found by isolation).
pub const REFUSED: DropReason = "refused";

pub struct Applier {
    pub pool: PgPool,
    pub sites: SiteDirectory,
    pub classifier: Classifier,
    pub partitions: Partitions,
    /// Keep visits (see `sessions`) in the same transaction as the rollups.
    pub sessions: bool,
    /// Distinct values per site, day and dimension; more count as `(other)`.
    pub max_values_per_day: i64,
}

/// What applying a group did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub applied_batches: usize,
    pub duplicate_batches: usize,
    pub counted: usize,
    pub dropped: HashMap<DropReason, usize>,
    /// Batches that cannot be applied at all, with why: to dead-letter.
    pub refused_batches: Vec<(Uuid, String)>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.applied_batches += other.applied_batches;
        self.duplicate_batches += other.duplicate_batches;
        self.counted += other.counted;
        for (reason, n) in other.dropped {
            *self.dropped.entry(reason).or_default() += n;
        }
        self.refused_batches.extend(other.refused_batches);
    }
}

/// Figures a source already summed per day (an import of Plausible's
/// export): rollup deltas with no events behind them, and visit totals.
#[derive(Debug, Default)]
pub struct Aggregates {
    pub deltas: Deltas,
    pub visits: crate::sessions::VisitDeltas,
}

impl Aggregates {
    /// Every local day the figures touch, for the partitions.
    fn days(&self) -> Vec<chrono::NaiveDate> {
        let deltas = &self.deltas;
        let mut days: Vec<chrono::NaiveDate> = (deltas.days.keys().map(|k| k.1))
            .chain(deltas.dimensions.keys().map(|k| k.period))
            .chain(self.visits.totals.keys().map(|k| k.1))
            .chain(self.visits.pages.keys().map(|k| k.1))
            .collect();
        days.sort_unstable();
        days.dedup();
        days
    }
}

/// Whether a transaction is kept, or only tried (to find what Postgres refuses).
#[derive(Clone, Copy, PartialEq)]
enum Finish {
    Commit,
    Rollback,
}

/// Visitor ids of the rows with long runs of ids travel flattened as (row
/// index, id) pairs, since Postgres arrays cannot be ragged, and their runs
/// as (row index, first, count) triples; their sketches are built per row in
/// SQL (every other row's comes built, see [`FlatVisitors`]).
const VISITORS_CTE: &str = "v AS (
    SELECT idx, hll_add_agg(hll_hash_bigint(vid)) AS h
    FROM (SELECT * FROM unnest($1::int8[], $2::int8[]) AS x(idx, vid)
          UNION ALL
          SELECT r.idx, generate_series(r.first, r.first + r.count - 1)
          FROM unnest($3::int8[], $4::int8[], $5::int8[]) AS r(idx, first, count)) AS ids
    GROUP BY idx)";

impl Applier {
    /// Applies `batches` exactly once each; see the module docs for what
    /// happens to data Postgres refuses. An error is always transient.
    pub async fn apply(&self, batches: &[Incoming]) -> Result<Outcome, ApplyError> {
        match self.apply_once(batches, Finish::Commit, None).await {
            Err(ApplyError::Refused(error)) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    batches = batches.len(),
                    "isolating what Postgres refuses"
                );
                self.isolate(batches).await
            }
            result => result,
        }
    }

    /// Applies one batch of an import with its `progress` moving in the
    /// same transaction, and what Postgres refuses isolated as in
    /// [`Self::apply`] (a batch refused as a whole comes back in
    /// `refused_batches`, its progress not moved).
    pub(crate) async fn apply_tracked(
        &self,
        batch: &Incoming,
        progress: &crate::import::Progress,
    ) -> Result<Outcome, ApplyError> {
        match self.apply_once(std::slice::from_ref(batch), Finish::Commit, Some(progress)).await {
            Err(ApplyError::Refused(error)) => {
                tracing::warn!(error = format!("{error:#}"), "isolating what Postgres refuses");
                self.apply_without_refused(batch, Some(progress)).await
            }
            result => result,
        }
    }

    /// Applies figures an import's source had already summed per day, with
    /// the import's `progress`, in one transaction. They are written as
    /// events' deltas are (the per-day value bound included). Nothing is
    /// isolated: the importer cleans every value, as ingest does, first.
    pub(crate) async fn apply_aggregates(
        &self,
        mut aggregates: Aggregates,
        progress: &crate::import::Progress,
    ) -> Result<Outcome, ApplyError> {
        let mut client = self.pool.get().await.map_err(|e| ApplyError::Transient(e.into()))?;
        self.partitions.ensure(&mut client, &aggregates.days()).await?;
        let transaction = client.transaction().await?;
        progress.advance(&transaction).await?;
        let deltas = &mut aggregates.deltas;
        deltas.finish();
        crate::long_tail::fold(&transaction, deltas, self.max_values_per_day).await?;
        write_deltas(&transaction, deltas).await?;
        if self.sessions {
            crate::sessions::write(&transaction, &aggregates.visits).await?;
        }
        transaction.commit().await?;
        Ok(Outcome { counted: deltas.counted, ..Default::default() })
    }

    /// A refused group in halves, down to one batch; of that batch, every
    /// event Postgres refuses is dropped and the rest applied.
    fn isolate<'a>(&'a self, batches: &'a [Incoming]) -> BoxFuture<'a, Result<Outcome, ApplyError>> {
        Box::pin(async move {
            if let [batch] = batches {
                return self.apply_without_refused(batch, None).await;
            }
            let (left, right) = batches.split_at(batches.len() / 2);
            let mut outcome = self.apply(left).await?;
            outcome.merge(self.apply(right).await?);
            Ok(outcome)
        })
    }

    async fn apply_without_refused(
        &self,
        batch: &Incoming,
        progress: Option<&crate::import::Progress>,
    ) -> Result<Outcome, ApplyError> {
        let refused = self.refused_events(batch).await?;
        let mut kept = batch.only(|i| !refused.contains(&i));
        *kept.dropped.entry(REFUSED).or_default() += refused.len();
        match self.apply_once(std::slice::from_ref(&kept), Finish::Commit, progress).await {
            Err(ApplyError::Refused(error)) => {
                // Refused only together (two events whose sum overflows, say):
                // nothing to single out, so the batch goes to the dead letters.
                tracing::error!(batch_id = %batch.id, error = format!("{error:#}"), "batch refused as a whole");
                Ok(Outcome { refused_batches: vec![(batch.id, format!("{error:#}"))], ..Default::default() })
            }
            result => {
                if !refused.is_empty() {
                    tracing::warn!(batch_id = %batch.id, events = refused.len(), "dropped events Postgres refuses");
                }
                result
            }
        }
    }

    /// Indexes of the events of `batch` that Postgres refuses on their own,
    /// by bisection with transactions that are rolled back.
    async fn refused_events(&self, batch: &Incoming) -> Result<HashSet<usize>, ApplyError> {
        let mut refused = HashSet::new();
        let mut ranges = halves(0..batch.events.len());
        while let Some(range) = ranges.pop() {
            let trial = batch.only(|i| range.contains(&i));
            match self.apply_once(std::slice::from_ref(&trial), Finish::Rollback, None).await {
                Ok(_) => {}
                Err(ApplyError::Refused(_)) if range.len() == 1 => {
                    refused.insert(range.start);
                }
                Err(ApplyError::Refused(_)) => ranges.extend(halves(range)),
                Err(transient) => return Err(transient),
            }
        }
        Ok(refused)
    }

    async fn apply_once(
        &self,
        batches: &[Incoming],
        finish: Finish,
        progress: Option<&crate::import::Progress>,
    ) -> Result<Outcome, ApplyError> {
        let result = self.transaction(batches, finish, progress).await;
        if let Err(ApplyError::Transient(error)) = &result {
            // "No partition for this row": one was dropped behind our cache's
            // back (retention in another aggregator); the retry re-creates it.
            let missing_partition = error
                .downcast_ref::<tokio_postgres::Error>()
                .and_then(tokio_postgres::Error::code)
                .is_some_and(|code| *code == SqlState::CHECK_VIOLATION);
            if missing_partition {
                self.partitions.forget();
            }
        }
        result
    }

    /// Applies `batches` in one transaction; an import's `progress` moves in
    /// the same transaction (see [`crate::import`]).
    async fn transaction(
        &self,
        batches: &[Incoming],
        finish: Finish,
        progress: Option<&crate::import::Progress>,
    ) -> Result<Outcome, ApplyError> {
        let sites = self.sites_of(batches).await?;
        let mut client = self.pool.get().await.map_err(|e| ApplyError::Transient(e.into()))?;
        self.partitions.ensure(&mut client, &days_touched(batches, &sites)).await?;

        let transaction = client.transaction().await?;
        let ids: Vec<Uuid> = batches.iter().map(|b| b.id).collect();
        let sizes: Vec<i32> = batches.iter().map(|b| i32::try_from(b.size).unwrap_or(i32::MAX)).collect();
        let new: HashSet<Uuid> = transaction
            .query(
                "INSERT INTO processed_batches (batch_id, event_count)
                 SELECT * FROM unnest($1::uuid[], $2::int4[]) ON CONFLICT DO NOTHING RETURNING batch_id",
                &[&ids, &sizes],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if let Some(progress) = progress {
            progress.advance(&transaction).await?;
        }

        let mut outcome = Outcome::default();
        let mut deltas = Deltas { keeps_events: self.partitions.keeps_events(), ..Default::default() };
        let mut taken = HashSet::new();
        for (batch, sites) in batches.iter().zip(&sites) {
            // `taken`: the same id twice in one group (a republish racing its original) counts once.
            if !new.contains(&batch.id) || !taken.insert(batch.id) {
                outcome.duplicate_batches += 1;
                continue;
            }
            outcome.applied_batches += 1;
            for (reason, n) in &batch.dropped {
                *outcome.dropped.entry(reason).or_default() += n;
            }
            for (i, (event, site)) in batch.events.iter().zip(sites).enumerate() {
                match site {
                    Some(site) => deltas.add(event, site, &self.classifier, batch.clients.get(i)),
                    None => deltas.drop_event(crate::rollup::UNKNOWN_SITE),
                }
            }
        }
        // The events are kept before any rollup row is touched: a rebuild
        // (`crate::rebuild`) locks a day's events against writers first, and
        // a writer that waits there must hold no rollup row it will need.
        deltas.kept.retain(|e| self.partitions.keeps_events_of(e.local_day));
        crate::kept_events::write(&transaction, &deltas.kept).await?;
        deltas.finish();
        crate::long_tail::fold(&transaction, &mut deltas, self.max_values_per_day).await?;
        write_deltas(&transaction, &mut deltas).await?;
        let hits = std::mem::take(&mut deltas.hits);
        if self.sessions {
            crate::sessions::apply(&transaction, hits).await?;
        }
        match finish {
            Finish::Commit => transaction.commit().await?,
            Finish::Rollback => transaction.rollback().await?,
        }
        outcome.counted = deltas.counted;
        for (reason, n) in deltas.dropped {
            *outcome.dropped.entry(reason).or_default() += n;
        }
        Ok(outcome)
    }

    /// Each event's site, looked up once for both the partitions and the
    /// deltas. Ingest only queues events of sites it knows, so a site missing
    /// here is most likely one created after our last read of the list: a
    /// miss counts as an unknown site only once the list in memory was read
    /// after ingest accepted the event (plus [`CLOCK_MARGIN_MS`] for the two
    /// clocks), so the list is read again first (after waiting out the
    /// margin, at most that long). A read that fails is an error to retry,
    /// never a reason to drop.
    async fn sites_of(&self, batches: &[Incoming]) -> Result<Vec<Vec<Option<Arc<Site>>>>, ApplyError> {
        let lookup = |batch: &Incoming| -> Vec<Option<Arc<Site>>> {
            batch.events.iter().map(|event| self.sites.cached(&event.site_id)).collect()
        };
        let sites: Vec<_> = batches.iter().map(lookup).collect();
        let Some(needed) = newest_miss(batches, &sites) else {
            return Ok(sites);
        };
        if self.sites.read_after(needed) {
            return Ok(sites);
        }
        let early_ms = needed.saturating_sub(chrono::Utc::now().timestamp_millis());
        if early_ms >= 0 {
            tokio::time::sleep(std::time::Duration::from_millis(early_ms as u64 + 1)).await;
        }
        self.sites.refresh().await.map_err(ApplyError::Transient)?;
        Ok(batches.iter().map(lookup).collect())
    }
}

/// Margin for the clocks of ingest (which stamps `received_ms`) and of the
/// aggregator (which stamps its reads of the site list): far more than
/// synchronised clocks differ by.
const CLOCK_MARGIN_MS: i64 = 250;

/// The moment after which the site list must have been read for the
/// misses in `sites` to be real: the latest acceptance of a missed event
/// (never later than its check, see [`crate::incoming`]), plus the clock
/// margin.
fn newest_miss(batches: &[Incoming], sites: &[Vec<Option<Arc<Site>>>]) -> Option<i64> {
    batches
        .iter()
        .zip(sites)
        .flat_map(|(batch, sites)| batch.events.iter().zip(sites))
        .filter(|(_, site)| site.is_none())
        .map(|(event, _)| event.received_ms.saturating_add(CLOCK_MARGIN_MS))
        .max()
}

/// `range` split in two halves (none when it is empty).
fn halves(range: Range<usize>) -> Vec<Range<usize>> {
    let mid = range.start + range.len() / 2;
    [range.start..mid, mid..range.end].into_iter().filter(|r| !r.is_empty()).collect()
}

/// Local days the batches' events fall on, for [`Partitions::ensure`].
fn days_touched(batches: &[Incoming], sites: &[Vec<Option<Arc<Site>>>]) -> Vec<chrono::NaiveDate> {
    let mut days: Vec<chrono::NaiveDate> = batches
        .iter()
        .zip(sites)
        .flat_map(|(batch, sites)| batch.events.iter().zip(sites))
        .filter_map(|(event, site)| local_bucket(event.timestamp_ms, site.as_ref()?.timezone).map(|(day, _)| day))
        .collect();
    days.sort_unstable();
    days.dedup();
    days
}

/// Adds `deltas` to the rollups inside `transaction`: the one write path of
/// live batches and backfills alike.
pub(crate) async fn write_deltas(
    transaction: &Transaction<'_>,
    deltas: &mut Deltas,
) -> Result<(), tokio_postgres::Error> {
    // Before any rollup row: see `weeks` and migration V16 for why the holds span the writes.
    crate::goal_rows::Held::take(transaction, deltas).await?.add_to(deltas);
    let deltas = &*deltas;
    let sealed_weeks = crate::weeks::Hold::take(transaction, deltas).await?;
    write_days(transaction, deltas).await?;
    sealed_weeks.add(transaction, deltas).await?;
    upsert_monthly(transaction, deltas).await?;
    upsert_monthly_speed(transaction, deltas).await?;
    upsert_titles(transaction, deltas).await
}

/// The rows of each day `deltas` touch (no month sums, no titles): what a
/// rebuild rewrites before it sums its months again from them.
pub(crate) async fn write_days(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    upsert_hourly(transaction, deltas).await?;
    upsert_daily(transaction, deltas).await?;
    upsert_dimensions(transaction, deltas).await?;
    upsert_speed(transaction, deltas).await?;
    upsert_app_health(transaction, deltas).await?;
    upsert_site_speed(transaction, deltas).await
}

/// Each row's visitors: its sketch, built here (see [`crate::sketch`]),
/// unless it has runs of more ids than are listed here; then its ids as
/// (row index, id) pairs and its runs as (row index, first, count) triples,
/// for [`VISITORS_CTE`] (the first five parameters of its statement) to
/// build the sketch from.
#[derive(Default)]
struct FlatVisitors {
    indexes: Vec<i64>,
    visitors: Vec<i64>,
    run_indexes: Vec<i64>,
    run_firsts: Vec<i64>,
    run_counts: Vec<i64>,
    /// By row, in order: the sketch built here, or `None`.
    sketches: Vec<Option<Vec<u8>>>,
}

impl FlatVisitors {
    fn of<'a>(rows: impl Iterator<Item = &'a Counts>) -> Self {
        let mut flat = Self::default();
        for (i, counts) in rows.enumerate() {
            let index = i as i64 + 1;
            let sketch = crate::sketch::sketch_of_runs(&counts.visitors, &counts.visitor_runs);
            if sketch.is_none() {
                for visitor in &counts.visitors {
                    flat.indexes.push(index);
                    flat.visitors.push(*visitor);
                }
                for &(first, count) in &counts.visitor_runs {
                    flat.run_indexes.push(index);
                    flat.run_firsts.push(first);
                    flat.run_counts.push(count);
                }
            }
            flat.sketches.push(sketch);
        }
        flat
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 5] {
        [&self.indexes, &self.visitors, &self.run_indexes, &self.run_firsts, &self.run_counts]
    }
}

async fn upsert_hourly(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    let rows: Vec<TotalsRow> =
        deltas.hourly.iter().map(|(k, c)| (k.site_id, k.local_day, Some(k.local_hour), k.source, c)).collect();
    upsert_totals(transaction, "hourly_totals", &rows).await
}

/// The day's totals, summed from the hourly deltas: what the dashboard reads
/// for any range (a few rows a day, not 24 per source).
async fn upsert_daily(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    let mut daily: BTreeMap<(Uuid, chrono::NaiveDate, &'static str), Counts> = BTreeMap::new();
    for (key, counts) in &deltas.hourly {
        daily.entry((key.site_id, key.local_day, key.source)).or_default().merge(counts);
    }
    for (key, counts) in &deltas.days {
        daily.entry(*key).or_default().merge(counts);
    }
    daily.values_mut().for_each(Counts::finish);
    let rows: Vec<TotalsRow> = daily.iter().map(|((site, day, source), c)| (*site, *day, None, *source, c)).collect();
    upsert_totals(transaction, "daily_totals", &rows).await
}

/// Site, local day, local hour (hourly table only), source, counts.
type TotalsRow<'a> = (Uuid, chrono::NaiveDate, Option<i16>, &'static str, &'a Counts);

async fn upsert_totals(
    transaction: &Transaction<'_>,
    table: &str,
    rows: &[TotalsRow<'_>],
) -> Result<(), tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let flat = FlatVisitors::of(rows.iter().map(|r| r.4));
    let sites: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let days: Vec<chrono::NaiveDate> = rows.iter().map(|r| r.1).collect();
    let hours: Vec<i16> = rows.iter().map(|r| r.2.unwrap_or_default()).collect();
    let sources: Vec<&str> = rows.iter().map(|r| r.3).collect();
    let pageviews: Vec<i64> = rows.iter().map(|r| r.4.pageviews).collect();
    let events: Vec<i64> = rows.iter().map(|r| r.4.events).collect();
    let (hour_column, hour_value) = if rows[0].2.is_some() { ("local_hour, ", "r.local_hour, ") } else { ("", "") };
    let sql = format!(
        "WITH {VISITORS_CTE}
         INSERT INTO {table} AS t (site_id, local_day, {hour_column}source, pageviews, events, visitors)
         SELECT r.site_id, r.local_day, {hour_value}r.source, r.pageviews, r.events,
                coalesce(v.h, r.sketch::hll, hll_empty())
         FROM unnest($6::uuid[], $7::date[], $8::int2[], $9::text[], $10::int8[], $11::int8[], $12::bytea[])
              WITH ORDINALITY AS r(site_id, local_day, local_hour, source, pageviews, events, sketch, idx)
         LEFT JOIN v ON v.idx = r.idx
         ORDER BY r.idx
         ON CONFLICT (site_id, local_day, {hour_column}source) DO UPDATE SET
             pageviews = t.pageviews + EXCLUDED.pageviews,
             events = t.events + EXCLUDED.events,
             visitors = hll_union(t.visitors, EXCLUDED.visitors)"
    );
    let [a, b, c, d, e] = flat.params();
    let sketches = &flat.sketches;
    transaction.execute(&sql, &[a, b, c, d, e, &sites, &days, &hours, &sources, &pageviews, &events, sketches]).await?;
    Ok(())
}

/// The day's dimension rows, and the count of each day's distinct values
/// (for the bound of `long_tail`) by the rows that are new.
async fn upsert_dimensions(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    upsert_dimension_rows(transaction, "daily_dimensions", "local_day", &deltas.dimensions).await?;
    let new = upsert_dimension_counts(transaction, "daily_dimension_counts", "local_day", &deltas.dimensions).await?;
    crate::long_tail::record_new_values(transaction, &new).await
}

/// The same rows summed per calendar month (keyed by its first day), for
/// long ranges.
async fn upsert_monthly(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    let monthly = per_period(deltas, |key| Some(first_of_month(key.period)));
    upsert_period(transaction, MONTH_TABLES, &monthly).await
}

pub(crate) const MONTH_TABLES: DimensionTables =
    DimensionTables { rows: "monthly_dimensions", counts: "monthly_dimension_counts", period: "month" };

/// The dimension deltas summed per period: `period_of` a daily key gives
/// the first day of its period, or `None` to leave the key out.
pub(crate) fn per_period(
    deltas: &Deltas,
    period_of: impl Fn(&DimensionKey) -> Option<chrono::NaiveDate>,
) -> BTreeMap<DimensionKey, Counts> {
    let mut periods: BTreeMap<DimensionKey, Counts> = BTreeMap::new();
    for (key, counts) in &deltas.dimensions {
        if let Some(period) = period_of(key) {
            periods.entry(DimensionKey { period, ..key.clone() }).or_default().merge(counts);
        }
    }
    periods.values_mut().for_each(Counts::finish);
    periods
}

/// Adds per-period rows to a period's two dimension tables.
pub(crate) async fn upsert_period(
    transaction: &Transaction<'_>,
    tables: DimensionTables,
    rows: &BTreeMap<DimensionKey, Counts>,
) -> Result<(), tokio_postgres::Error> {
    upsert_dimension_rows(transaction, tables.rows, tables.period, rows).await?;
    upsert_dimension_counts(transaction, tables.counts, tables.period, rows).await?;
    Ok(())
}

pub(crate) fn first_of_month(day: chrono::NaiveDate) -> chrono::NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The counts of dimension rows (no sketches) into a ranking table of
/// migration V5: one row per value, its sources side by side in columns.
/// Returns the (site, day, dimension) of each row it inserted (a value new
/// on that day).
async fn upsert_dimension_counts(
    transaction: &Transaction<'_>,
    table: &str,
    day_column: &str,
    rows: &BTreeMap<DimensionKey, Counts>,
) -> Result<Vec<(Uuid, chrono::NaiveDate, String)>, tokio_postgres::Error> {
    // Per (site, day, dimension, value): pageviews per source, then events
    // per source, in the order of TrafficSource::ALL (which the SQL's columns follow).
    const SOURCES: usize = analytics_events::TrafficSource::ALL.len();
    let mut merged: BTreeMap<(Uuid, chrono::NaiveDate, &str, &str), [i64; 2 * SOURCES]> = BTreeMap::new();
    for (key, counts) in rows {
        let Some(source) = analytics_events::TrafficSource::ALL.iter().position(|s| s.as_str() == key.source) else {
            continue; // the classifier only produces these sources
        };
        let columns = merged.entry((key.site_id, key.period, key.dimension, key.value.as_str())).or_default();
        columns[source] += counts.pageviews;
        columns[SOURCES + source] += counts.events;
    }
    if merged.is_empty() {
        return Ok(Vec::new());
    }
    let keys = merged.keys();
    let sites: Vec<Uuid> = keys.clone().map(|k| k.0).collect();
    let days: Vec<chrono::NaiveDate> = keys.clone().map(|k| k.1).collect();
    let dimensions: Vec<&str> = keys.clone().map(|k| k.2).collect();
    let values: Vec<&str> = keys.map(|k| k.3).collect();
    let column = |i: usize| -> Vec<i64> { merged.values().map(|c| c[i]).collect() };
    let counts: Vec<Vec<i64>> = (0..2 * SOURCES).map(column).collect();
    // A row whose totals equal what this statement adds was inserted by it
    // (every row has counts, so an updated one ends higher). Partitioned
    // tables cannot return `xmax`, which would have said so directly.
    let sql = format!(
        "WITH input AS (
             SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[],
                                  $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])
                 AS r(site_id, day, dimension, value, pw, pmw, pa, ew, emw, ea)),
         upserted AS (
             INSERT INTO {table} AS t (site_id, {day_column}, dimension, value,
                 pageviews_web, pageviews_mobile_web, pageviews_app, events_web, events_mobile_web, events_app)
             SELECT * FROM input
             ON CONFLICT (site_id, {day_column}, dimension, value) DO UPDATE SET
                 pageviews_web = t.pageviews_web + EXCLUDED.pageviews_web,
                 pageviews_mobile_web = t.pageviews_mobile_web + EXCLUDED.pageviews_mobile_web,
                 pageviews_app = t.pageviews_app + EXCLUDED.pageviews_app,
                 events_web = t.events_web + EXCLUDED.events_web,
                 events_mobile_web = t.events_mobile_web + EXCLUDED.events_mobile_web,
                 events_app = t.events_app + EXCLUDED.events_app
             RETURNING t.site_id, t.{day_column} AS day, t.dimension, t.value,
                 t.pageviews_web + t.pageviews_mobile_web + t.pageviews_app
                     + t.events_web + t.events_mobile_web + t.events_app AS total)
         SELECT u.site_id, u.day, u.dimension FROM upserted u
         JOIN input i USING (site_id, day, dimension, value)
         WHERE u.total = i.pw + i.pmw + i.pa + i.ew + i.emw + i.ea"
    );
    let inserted = transaction
        .query(
            &sql,
            &[
                &sites,
                &days,
                &dimensions,
                &values,
                &counts[0],
                &counts[1],
                &counts[2],
                &counts[3],
                &counts[4],
                &counts[5],
            ],
        )
        .await?;
    Ok(inserted.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect())
}

/// Upserts dimension rows into `table`, whose date column is `day_column`.
async fn upsert_dimension_rows(
    transaction: &Transaction<'_>,
    table: &str,
    day_column: &str,
    rows: &BTreeMap<DimensionKey, Counts>,
) -> Result<(), tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let flat = FlatVisitors::of(rows.values());
    let keys = rows.keys();
    let sites: Vec<Uuid> = keys.clone().map(|k| k.site_id).collect();
    let days: Vec<chrono::NaiveDate> = keys.clone().map(|k| k.period).collect();
    let dimensions: Vec<&str> = keys.clone().map(|k| k.dimension).collect();
    let sources: Vec<&str> = keys.clone().map(|k| k.source).collect();
    let values: Vec<&str> = keys.map(|k| k.value.as_str()).collect();
    let pageviews: Vec<i64> = rows.values().map(|c| c.pageviews).collect();
    let events: Vec<i64> = rows.values().map(|c| c.events).collect();
    let [a, b, c, d, e] = flat.params();
    let sql = format!(
        "WITH {VISITORS_CTE}
         INSERT INTO {table} AS t (site_id, {day_column}, dimension, source, value, pageviews, events, visitors)
         SELECT r.site_id, r.day, r.dimension, r.source, r.value, r.pageviews, r.events,
                coalesce(v.h, r.sketch::hll, hll_empty())
         FROM unnest($6::uuid[], $7::date[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::int8[], $13::bytea[])
              WITH ORDINALITY AS r(site_id, day, dimension, source, value, pageviews, events, sketch, idx)
         LEFT JOIN v ON v.idx = r.idx
         ORDER BY r.idx
         ON CONFLICT (site_id, {day_column}, dimension, source, value) DO UPDATE SET
             pageviews = t.pageviews + EXCLUDED.pageviews,
             events = t.events + EXCLUDED.events,
             visitors = hll_union(t.visitors, EXCLUDED.visitors)"
    );
    transaction
        .execute(
            &sql,
            &[a, b, c, d, e, &sites, &days, &dimensions, &sources, &values, &pageviews, &events, &flat.sketches],
        )
        .await?;
    Ok(())
}

async fn upsert_speed(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    let rows: Vec<SpeedRow> = deltas
        .speed
        .iter()
        .map(|(k, h)| (k.site_id, k.local_day, k.metric, k.source, Some(k.path.as_str()), h))
        .collect();
    upsert_histograms(transaction, "daily_speed", "local_day", &rows).await
}

/// The per-page histograms summed per calendar month, for long ranges.
async fn upsert_monthly_speed(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    let mut monthly: BTreeMap<(Uuid, chrono::NaiveDate, &'static str, &'static str, &str), Histogram> = BTreeMap::new();
    for (key, histogram) in &deltas.speed {
        let month = first_of_month(key.local_day);
        monthly.entry((key.site_id, month, key.metric, key.source, key.path.as_str())).or_default().merge(histogram);
    }
    let rows: Vec<SpeedRow> = monthly.iter().map(|(k, h)| (k.0, k.1, k.2, k.3, Some(k.4), h)).collect();
    upsert_histograms(transaction, "monthly_speed", "month", &rows).await
}

/// The whole site's speed per day, merged from the per-page deltas.
async fn upsert_site_speed(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    let mut site: BTreeMap<(Uuid, chrono::NaiveDate, &'static str, &'static str), Histogram> = BTreeMap::new();
    for (key, histogram) in &deltas.speed {
        site.entry((key.site_id, key.local_day, key.metric, key.source)).or_default().merge(histogram);
    }
    let rows: Vec<SpeedRow> = site.iter().map(|(k, h)| (k.0, k.1, k.2, k.3, None, h)).collect();
    upsert_histograms(transaction, "daily_site_speed", "local_day", &rows).await
}

/// Site, local day, metric, source, page (per-page table only), histogram.
type SpeedRow<'a> = (Uuid, chrono::NaiveDate, &'static str, &'static str, Option<&'a str>, &'a Histogram);

async fn upsert_histograms(
    transaction: &Transaction<'_>,
    table: &str,
    day_column: &str,
    rows: &[SpeedRow<'_>],
) -> Result<(), tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let sites: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let days: Vec<chrono::NaiveDate> = rows.iter().map(|r| r.1).collect();
    let metrics: Vec<&str> = rows.iter().map(|r| r.2).collect();
    let sources: Vec<&str> = rows.iter().map(|r| r.3).collect();
    let paths: Vec<&str> = rows.iter().map(|r| r.4.unwrap_or_default()).collect();
    let counts: Vec<i64> = rows.iter().map(|r| r.5.count).collect();
    let sums: Vec<i64> = rows.iter().map(|r| r.5.sum_ms).collect();
    // Histograms differ in length, so each travels as an array literal.
    let histograms: Vec<String> = rows
        .iter()
        .map(|r| format!("{{{}}}", r.5.buckets.iter().map(i64::to_string).collect::<Vec<_>>().join(",")))
        .collect();
    let (path_column, path_value) = if rows[0].4.is_some() { ("path, ", "path, ") } else { ("", "") };
    let sql = format!(
        "INSERT INTO {table} AS t (site_id, {day_column}, metric, source, {path_column}count, sum_ms, histogram)
         SELECT site_id, day, metric, source, {path_value}count, sum_ms, histogram::int8[]
         FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::text[])
              AS r(site_id, day, metric, source, path, count, sum_ms, histogram)
         ON CONFLICT (site_id, {day_column}, metric, source{}) DO UPDATE SET
             count = t.count + EXCLUDED.count,
             sum_ms = t.sum_ms + EXCLUDED.sum_ms,
             histogram = analytics_histogram_add(t.histogram, EXCLUDED.histogram)",
        if path_column.is_empty() { "" } else { ", path" }
    );
    transaction.execute(&sql, &[&sites, &days, &metrics, &sources, &paths, &counts, &sums, &histograms]).await?;
    Ok(())
}

/// Each app version's requests, errors and response times of the day.
async fn upsert_app_health(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    if deltas.app_health.is_empty() {
        return Ok(());
    }
    let rows = &deltas.app_health;
    let sites: Vec<Uuid> = rows.keys().map(|k| k.0).collect();
    let days: Vec<chrono::NaiveDate> = rows.keys().map(|k| k.1).collect();
    let versions: Vec<&str> = rows.keys().map(|k| k.2.as_str()).collect();
    let column = |f: fn(&crate::rollup::AppHealth) -> i64| rows.values().map(f).collect::<Vec<i64>>();
    let (requests, client_errors, server_errors) =
        (column(|h| h.requests), column(|h| h.client_errors), column(|h| h.server_errors));
    let (timed, sums) = (column(|h| h.response.count), column(|h| h.response.sum_ms));
    let histograms: Vec<String> = rows
        .values()
        .map(|h| format!("{{{}}}", h.response.buckets.iter().map(i64::to_string).collect::<Vec<_>>().join(",")))
        .collect();
    transaction
        .execute(
            "INSERT INTO daily_app_versions AS t
                 (site_id, local_day, version, requests, client_errors, server_errors, timed, sum_ms, histogram)
             SELECT site_id, day, version, requests, client_errors, server_errors, timed, sum_ms, histogram::int8[]
             FROM unnest($1::uuid[], $2::date[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::text[])
                  AS r(site_id, day, version, requests, client_errors, server_errors, timed, sum_ms, histogram)
             ON CONFLICT (site_id, local_day, version) DO UPDATE SET
                 requests = t.requests + EXCLUDED.requests,
                 client_errors = t.client_errors + EXCLUDED.client_errors,
                 server_errors = t.server_errors + EXCLUDED.server_errors,
                 timed = t.timed + EXCLUDED.timed,
                 sum_ms = t.sum_ms + EXCLUDED.sum_ms,
                 histogram = analytics_histogram_add(t.histogram, EXCLUDED.histogram)",
            &[&sites, &days, &versions, &requests, &client_errors, &server_errors, &timed, &sums, &histograms],
        )
        .await?;
    Ok(())
}

async fn upsert_titles(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    if deltas.titles.is_empty() {
        return Ok(());
    }
    let sites: Vec<Uuid> = deltas.titles.keys().map(|(site, _)| *site).collect();
    let paths: Vec<&str> = deltas.titles.keys().map(|(_, path)| path.as_str()).collect();
    let seen: Vec<i64> = deltas.titles.values().map(|(at, _)| *at).collect();
    let titles: Vec<&str> = deltas.titles.values().map(|(_, title)| title.as_str()).collect();
    transaction
        .execute(
            "INSERT INTO page_titles AS t (site_id, path, title, seen_at)
             SELECT site_id, path, title, to_timestamp(seen_ms / 1000.0)
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int8[]) AS r(site_id, path, title, seen_ms)
             ON CONFLICT (site_id, path) DO UPDATE SET title = EXCLUDED.title, seen_at = EXCLUDED.seen_at
             WHERE EXCLUDED.seen_at >= t.seen_at",
            &[&sites, &paths, &titles, &seen],
        )
        .await?;
    Ok(())
}
