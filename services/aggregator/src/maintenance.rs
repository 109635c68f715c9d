//! Housekeeping on a timer: partitions ahead of time, old partitions dropped,
//! old batch ids pruned, the weeks that are over summed (`weeks`). Runs in
//! every aggregator; each step is idempotent.

use std::sync::Arc;
use std::time::Duration;

use analytics_telemetry::Shutdown;
use chrono::Utc;

use crate::apply::Applier;
use crate::partitions::{EVENTS_TABLE, PARTITIONED_TABLES, Partitions};
use crate::settings::AggregatorSettings;

pub async fn run(applier: Arc<Applier>, settings: AggregatorSettings, shutdown: Shutdown) {
    loop {
        if let Err(error) = once(&applier.pool, &applier.partitions, &settings).await {
            tracing::warn!(error = format!("{error:#}"), "maintenance failed; retrying next round");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(settings.maintenance_interval_seconds.max(1))) => {}
        }
    }
}

/// The partitions of the days batches may reach now and of
/// `partition_days_ahead` days after: the aggregator creates them before it
/// consumes, and each round makes sure of them. Created while batches are
/// applied, a partition waits for the batch transactions in flight (its
/// parent's exclusive lock) and holds every later one behind it: at a fresh
/// start, 60 of them stalled the first seconds of every aggregator.
pub async fn ensure_ahead(
    client: &mut tokio_postgres::Client,
    partitions: &Partitions,
    settings: &AggregatorSettings,
) -> Result<(), tokio_postgres::Error> {
    let first = crate::partitions::first_live_day();
    let days: Vec<_> = first.iter_days().take(settings.partition_days_ahead as usize + 3).collect();
    partitions.ensure(client, &days).await
}

/// What one maintenance round did.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub dropped_partitions: Vec<String>,
    pub pruned_batch_ids: u64,
    pub forgotten_visitors: u64,
    pub sealed_weeks: u64,
}

/// One maintenance round, as the timer runs it (public for tests and operators).
pub async fn run_once(pool: &analytics_store::PgPool, settings: &AggregatorSettings) -> anyhow::Result<Report> {
    once(pool, &Partitions::new(settings.events_days()), settings).await
}

async fn once(
    pool: &analytics_store::PgPool,
    partitions: &Partitions,
    settings: &AggregatorSettings,
) -> anyhow::Result<Report> {
    let mut client = pool.get().await?;
    ensure_ahead(&mut client, partitions, settings).await?;
    let oldest_kept = crate::partitions::oldest_kept(settings.retention_days);
    let mut dropped = partitions.drop_before(&client, &PARTITIONED_TABLES, oldest_kept).await?;
    if !dropped.is_empty() {
        tracing::info!(partitions = dropped.len(), %oldest_kept, "dropped rollup partitions past retention");
    }
    // The kept events have a retention of their own (all of them when they
    // are no longer kept).
    let oldest_event = match settings.keep_events {
        true => crate::partitions::oldest_kept(settings.raw_retention_days),
        false => chrono::NaiveDate::MAX,
    };
    let events = partitions.drop_before(&client, &[EVENTS_TABLE], oldest_event).await?;
    if !events.is_empty() {
        tracing::info!(partitions = events.len(), %oldest_event, "dropped event partitions past raw retention");
    }
    dropped.extend(events);
    let pruned = crate::partitions::prune_batch_ids(&client, settings.batch_id_retention_days).await?;
    if pruned > 0 {
        tracing::info!(pruned, "pruned old batch ids");
    }
    // Visitors silent for 3 days: no event can change their visits any more.
    let forgotten = forget_silent_visitors(&client).await?;
    client.execute("DELETE FROM live_visitors WHERE minute < now() - interval '1 hour'", &[]).await?;
    // The unpartitioned rollups: a few rows a day, deleted rather than dropped.
    let mut removed = 0;
    for table in
        ["daily_totals", "daily_site_speed", "daily_visits", "hourly_visits", "daily_visit_pages", "daily_value_counts"]
    {
        removed += client.execute(&format!("DELETE FROM {table} WHERE local_day < $1"), &[&oldest_kept]).await?;
    }
    // Titles of pages not seen since (random paths would otherwise stay forever).
    let oldest_seen = Utc::now() - chrono::Duration::days(settings.retention_days as i64);
    removed += client.execute("DELETE FROM page_titles WHERE seen_at < $1", &[&oldest_seen]).await?;
    let first_kept_month = crate::apply::first_of_month(oldest_kept);
    for table in ["monthly_dimensions", "monthly_dimension_counts", "monthly_speed"] {
        removed += client.execute(&format!("DELETE FROM {table} WHERE month < $1"), &[&first_kept_month]).await?;
    }
    removed += crate::weeks::forget_before(&client, oldest_kept).await?;
    let sealed_weeks = crate::weeks::seal_over(&mut client, Utc::now().date_naive(), oldest_kept).await?;
    if sealed_weeks > 0 {
        tracing::info!(sealed_weeks, "summed the weeks that are over");
    }
    if forgotten + removed > 0 {
        tracing::info!(forgotten, removed, "pruned visitor state and small rollups past retention");
    }
    Ok(Report { dropped_partitions: dropped, pruned_batch_ids: pruned, forgotten_visitors: forgotten, sealed_weeks })
}

/// Deletes every visitor silent for 3 days, however many, in chunks: no
/// statement holds its locks for long, and a busy day's millions of visitors
/// are all gone by the next round.
async fn forget_silent_visitors(client: &tokio_postgres::Client) -> Result<u64, tokio_postgres::Error> {
    const CHUNK: i64 = 50_000;
    let cutoff = Utc::now() - chrono::Duration::days(3);
    let mut total = 0;
    loop {
        let deleted = client
            .execute(
                "DELETE FROM visitor_visits WHERE ctid = ANY(ARRAY(
                     SELECT ctid FROM visitor_visits WHERE last_seen < $1 LIMIT $2))",
                &[&cutoff, &CHUNK],
            )
            .await?;
        total += deleted;
        if deleted < CHUNK as u64 {
            return Ok(total);
        }
    }
}
