//! One transaction per group of deliveries: record their batch ids, apply the
//! deltas of the batches not seen before, commit. Only then are they acked.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use analytics_events::EventBatch;
use analytics_store::PgPool;
use analytics_store::sites::{Site, SiteDirectory};
use chrono::Datelike;
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::classify::Classifier;
use crate::partitions::Partitions;
use crate::rollup::{Counts, Deltas, DimensionKey, Histogram, local_bucket};

#[derive(Debug, thiserror::Error)]
#[error("database: {0:#}")]
pub struct ApplyError(#[from] anyhow::Error);

impl From<tokio_postgres::Error> for ApplyError {
    fn from(error: tokio_postgres::Error) -> Self {
        ApplyError(error.into())
    }
}

pub struct Applier {
    pub pool: PgPool,
    pub sites: SiteDirectory,
    pub classifier: Classifier,
    pub partitions: Partitions,
    /// Keep visits (see `sessions`) in the same transaction as the rollups.
    pub sessions: bool,
}

/// What one transaction did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub applied_batches: usize,
    pub duplicate_batches: usize,
    pub deltas: Deltas,
}

/// Visitor ids of each row travel flattened as (row index, id) pairs, since
/// Postgres arrays cannot be ragged; the sketch is built per row in SQL.
const VISITORS_CTE: &str = "v AS (
    SELECT idx, hll_add_agg(hll_hash_bigint(vid)) AS h
    FROM unnest($1::int8[], $2::int8[]) AS x(idx, vid) GROUP BY idx)";

impl Applier {
    /// Applies `batches` (with their parsed ids) exactly once each.
    pub async fn apply(&self, batches: &[(Uuid, EventBatch)]) -> Result<Outcome, ApplyError> {
        let result = self.apply_once(batches).await;
        if let Err(ApplyError(error)) = &result {
            // "No partition for this row": one was dropped behind our cache's
            // back (retention in another aggregator); the retry re-creates it.
            let missing_partition = error
                .downcast_ref::<tokio_postgres::Error>()
                .and_then(tokio_postgres::Error::code)
                .is_some_and(|code| *code == tokio_postgres::error::SqlState::CHECK_VIOLATION);
            if missing_partition {
                self.partitions.forget();
            }
        }
        result
    }

    async fn apply_once(&self, batches: &[(Uuid, EventBatch)]) -> Result<Outcome, ApplyError> {
        // Each event's site, looked up once for both the partitions and the deltas.
        let mut sites = Vec::with_capacity(batches.len());
        for (_, batch) in batches {
            let mut of_batch = Vec::with_capacity(batch.events.len());
            for event in &batch.events {
                of_batch.push(self.sites.resolve(&event.site_id).await);
            }
            sites.push(of_batch);
        }
        if sites.iter().flatten().any(Option::is_none) {
            // Ingest only queues events of sites it knows, so a miss is most
            // likely a site created after our last refresh: refresh now (the
            // directory's own miss refresh is rate-limited) before dropping.
            if let Err(error) = self.sites.refresh().await {
                tracing::warn!(error = format!("{error:#}"), "site directory refresh failed");
            }
            for ((_, batch), of_batch) in batches.iter().zip(sites.iter_mut()) {
                for (event, site) in batch.events.iter().zip(of_batch.iter_mut()).filter(|(_, s)| s.is_none()) {
                    *site = self.sites.resolve(&event.site_id).await;
                }
            }
        }
        let mut client = self.pool.get().await.map_err(anyhow::Error::from)?;
        self.partitions.ensure(&client, &days_touched(batches, &sites)).await?;

        let transaction = client.transaction().await?;
        let ids: Vec<Uuid> = batches.iter().map(|(id, _)| *id).collect();
        let sizes: Vec<i32> = batches.iter().map(|(_, b)| b.events.len() as i32).collect();
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

        let mut outcome = Outcome::default();
        let mut taken = HashSet::new();
        for ((id, batch), sites) in batches.iter().zip(&sites) {
            // `taken`: the same id twice in one group (a republish racing its original) counts once.
            if !new.contains(id) || !taken.insert(*id) {
                outcome.duplicate_batches += 1;
                continue;
            }
            outcome.applied_batches += 1;
            for (event, site) in batch.events.iter().zip(sites) {
                match site {
                    Some(site) => outcome.deltas.add(event, site, &self.classifier),
                    None => outcome.deltas.drop_event("unknown_site"),
                }
            }
        }
        outcome.deltas.finish();
        write_deltas(&transaction, &outcome.deltas).await?;
        let hits = std::mem::take(&mut outcome.deltas.hits);
        if self.sessions {
            crate::sessions::apply(&transaction, hits).await?;
        }
        transaction.commit().await?;
        Ok(outcome)
    }
}

/// Local days the batches' events fall on, for [`Partitions::ensure`].
fn days_touched(batches: &[(Uuid, EventBatch)], sites: &[Vec<Option<Arc<Site>>>]) -> Vec<chrono::NaiveDate> {
    let mut days: Vec<chrono::NaiveDate> = batches
        .iter()
        .zip(sites)
        .flat_map(|((_, batch), sites)| batch.events.iter().zip(sites))
        .filter_map(|(event, site)| local_bucket(event.timestamp_ms, site.as_ref()?.timezone).map(|(day, _)| day))
        .collect();
    days.sort_unstable();
    days.dedup();
    days
}

/// Adds `deltas` to the rollups inside `transaction`: the one write path of
/// live batches and backfills alike.
pub(crate) async fn write_deltas(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    upsert_hourly(transaction, deltas).await?;
    upsert_daily(transaction, deltas).await?;
    upsert_dimensions(transaction, deltas).await?;
    upsert_monthly(transaction, deltas).await?;
    upsert_speed(transaction, deltas).await?;
    upsert_monthly_speed(transaction, deltas).await?;
    upsert_site_speed(transaction, deltas).await?;
    upsert_titles(transaction, deltas).await
}

/// Row indexes and visitor ids, flattened, for [`VISITORS_CTE`].
fn flatten_visitors<'a>(rows: impl Iterator<Item = &'a Counts>) -> (Vec<i64>, Vec<i64>) {
    let mut indexes = Vec::new();
    let mut visitors = Vec::new();
    for (i, counts) in rows.enumerate() {
        for visitor in &counts.visitors {
            indexes.push(i as i64 + 1);
            visitors.push(*visitor);
        }
    }
    (indexes, visitors)
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
    let (indexes, visitors) = flatten_visitors(rows.iter().map(|r| r.4));
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
         SELECT r.site_id, r.local_day, {hour_value}r.source, r.pageviews, r.events, coalesce(v.h, hll_empty())
         FROM unnest($3::uuid[], $4::date[], $5::int2[], $6::text[], $7::int8[], $8::int8[]) WITH ORDINALITY
              AS r(site_id, local_day, local_hour, source, pageviews, events, idx)
         LEFT JOIN v ON v.idx = r.idx
         ORDER BY r.idx
         ON CONFLICT (site_id, local_day, {hour_column}source) DO UPDATE SET
             pageviews = t.pageviews + EXCLUDED.pageviews,
             events = t.events + EXCLUDED.events,
             visitors = hll_union(t.visitors, EXCLUDED.visitors)"
    );
    transaction.execute(&sql, &[&indexes, &visitors, &sites, &days, &hours, &sources, &pageviews, &events]).await?;
    Ok(())
}

async fn upsert_dimensions(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    upsert_dimension_rows(transaction, "daily_dimensions", "local_day", &deltas.dimensions).await?;
    upsert_dimension_counts(transaction, "daily_dimension_counts", "local_day", &deltas.dimensions).await
}

/// The same rows summed per calendar month (keyed by its first day), for
/// long ranges.
async fn upsert_monthly(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<(), tokio_postgres::Error> {
    let mut monthly: BTreeMap<DimensionKey, Counts> = BTreeMap::new();
    for (key, counts) in &deltas.dimensions {
        monthly
            .entry(DimensionKey { local_day: first_of_month(key.local_day), ..key.clone() })
            .or_default()
            .merge(counts);
    }
    monthly.values_mut().for_each(Counts::finish);
    upsert_dimension_rows(transaction, "monthly_dimensions", "month", &monthly).await?;
    upsert_dimension_counts(transaction, "monthly_dimension_counts", "month", &monthly).await
}

pub(crate) fn first_of_month(day: chrono::NaiveDate) -> chrono::NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The counts of dimension rows (no sketches) into a ranking table of
/// migration V5: one row per value, its sources side by side in columns.
async fn upsert_dimension_counts(
    transaction: &Transaction<'_>,
    table: &str,
    day_column: &str,
    rows: &BTreeMap<DimensionKey, Counts>,
) -> Result<(), tokio_postgres::Error> {
    // Per (site, day, dimension, value): pageviews per source, then events
    // per source, in the order of SOURCES (which the SQL's columns follow).
    const SOURCES: usize = analytics_store::SOURCES.len();
    let mut merged: BTreeMap<(Uuid, chrono::NaiveDate, &str, &str), [i64; 2 * SOURCES]> = BTreeMap::new();
    for (key, counts) in rows {
        let Some(source) = analytics_store::SOURCES.iter().position(|s| *s == key.source) else {
            continue; // the classifier only produces these sources
        };
        let columns = merged.entry((key.site_id, key.local_day, key.dimension, key.value.as_str())).or_default();
        columns[source] += counts.pageviews;
        columns[SOURCES + source] += counts.events;
    }
    if merged.is_empty() {
        return Ok(());
    }
    let keys = merged.keys();
    let sites: Vec<Uuid> = keys.clone().map(|k| k.0).collect();
    let days: Vec<chrono::NaiveDate> = keys.clone().map(|k| k.1).collect();
    let dimensions: Vec<&str> = keys.clone().map(|k| k.2).collect();
    let values: Vec<&str> = keys.map(|k| k.3).collect();
    let column = |i: usize| -> Vec<i64> { merged.values().map(|c| c[i]).collect() };
    let counts: Vec<Vec<i64>> = (0..2 * SOURCES).map(column).collect();
    let sql = format!(
        "INSERT INTO {table} AS t (site_id, {day_column}, dimension, value,
             pageviews_web, pageviews_mobile_web, pageviews_app, events_web, events_mobile_web, events_app)
         SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[],
                              $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])
         ON CONFLICT (site_id, {day_column}, dimension, value) DO UPDATE SET
             pageviews_web = t.pageviews_web + EXCLUDED.pageviews_web,
             pageviews_mobile_web = t.pageviews_mobile_web + EXCLUDED.pageviews_mobile_web,
             pageviews_app = t.pageviews_app + EXCLUDED.pageviews_app,
             events_web = t.events_web + EXCLUDED.events_web,
             events_mobile_web = t.events_mobile_web + EXCLUDED.events_mobile_web,
             events_app = t.events_app + EXCLUDED.events_app"
    );
    transaction
        .execute(
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
    Ok(())
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
    let (indexes, visitors) = flatten_visitors(rows.values());
    let keys = rows.keys();
    let sites: Vec<Uuid> = keys.clone().map(|k| k.site_id).collect();
    let days: Vec<chrono::NaiveDate> = keys.clone().map(|k| k.local_day).collect();
    let dimensions: Vec<&str> = keys.clone().map(|k| k.dimension).collect();
    let sources: Vec<&str> = keys.clone().map(|k| k.source).collect();
    let values: Vec<&str> = keys.map(|k| k.value.as_str()).collect();
    let pageviews: Vec<i64> = rows.values().map(|c| c.pageviews).collect();
    let events: Vec<i64> = rows.values().map(|c| c.events).collect();
    let sql = format!(
        "WITH {VISITORS_CTE}
         INSERT INTO {table} AS t (site_id, {day_column}, dimension, source, value, pageviews, events, visitors)
         SELECT r.site_id, r.day, r.dimension, r.source, r.value, r.pageviews, r.events, coalesce(v.h, hll_empty())
         FROM unnest($3::uuid[], $4::date[], $5::text[], $6::text[], $7::text[], $8::int8[], $9::int8[]) WITH ORDINALITY
              AS r(site_id, day, dimension, source, value, pageviews, events, idx)
         LEFT JOIN v ON v.idx = r.idx
         ORDER BY r.idx
         ON CONFLICT (site_id, {day_column}, dimension, source, value) DO UPDATE SET
             pageviews = t.pageviews + EXCLUDED.pageviews,
             events = t.events + EXCLUDED.events,
             visitors = hll_union(t.visitors, EXCLUDED.visitors)"
    );
    transaction
        .execute(&sql, &[&indexes, &visitors, &sites, &days, &dimensions, &sources, &values, &pageviews, &events])
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
