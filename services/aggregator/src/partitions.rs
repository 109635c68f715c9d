//! Daily partitions of the rollup tables: created ahead of need (and on
//! demand for any day a batch touches, such as a backfill), and dropped whole
//! once past retention. Nothing deletes rollup rows one by one.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{Days, NaiveDate};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

/// The rollup tables partitioned by `local_day`.
pub const PARTITIONED_TABLES: [&str; 5] =
    ["hourly_totals", "daily_dimensions", "daily_dimension_counts", "daily_speed", "daily_app_versions"];

/// The kept events: partitioned the same way, but only for the days they
/// are kept (`raw_retention_days`).
pub const EVENTS_TABLE: &str = "events";

/// Longest wait, in milliseconds, for the lock that creating a partition needs.
pub const LOCK_TIMEOUT_MS: u64 = 2000;

/// How full (percent) the pages of a rollup partition that live batches
/// update are filled by inserts. Every batch updates the rows of its values;
/// with room on the row's page, the new row version stays there (a HOT
/// update) and the primary key gains no entry. With full pages (100,
/// Postgres' default) 97% of those updates added an index entry and left a
/// dead version elsewhere; at 70, 8%. The unpartitioned monthly rollups get
/// the same from migration V17: after the query benchmark's year of
/// upserts they took 404 MB instead of 1,092 MB, and a 12-month top pages
/// 37 ms instead of 62 (BENCHMARKS.md).
pub const LIVE_FILLFACTOR: u8 = 70;

/// The first day live batches can reach: two before today (UTC), as local
/// days run up to 12 h behind UTC and events may be 24 h old (and up to
/// 14 h ahead, so today's and later days' too).
pub fn first_live_day() -> NaiveDate {
    let today = chrono::Utc::now().date_naive();
    today.checked_sub_days(Days::new(2)).unwrap_or(today)
}

/// Whether the partitions of `day` take live batches (and so need room to
/// update in place). The partitions of older days, which only backfills and
/// imports create, are filled whole: rows of a day that is over are read,
/// not updated.
pub fn takes_live_batches(day: NaiveDate) -> bool {
    day >= first_live_day()
}

#[derive(Default)]
pub struct Partitions {
    known: Mutex<HashSet<NaiveDate>>,
    /// Days the events are kept; `None` when they are not.
    events_days: Option<u64>,
}

pub(crate) fn partition_name(table: &str, day: NaiveDate) -> String {
    format!("{table}_{}", day.format("%Y%m%d"))
}

impl Partitions {
    /// Partitions for the rollups and, when events are kept, for the last
    /// `events_days` days of events.
    pub fn new(events_days: Option<u64>) -> Self {
        Self { events_days, ..Default::default() }
    }

    /// Whether events are kept at all.
    pub fn keeps_events(&self) -> bool {
        self.events_days.is_some()
    }

    /// Whether the events of local `day` are kept: the last
    /// `raw_retention_days` days (by UTC's date, as their partitions are
    /// dropped), and the days ahead.
    pub fn keeps_events_of(&self, day: NaiveDate) -> bool {
        self.events_days.is_some_and(|days| day >= oldest_kept(days))
    }

    /// Makes sure every table has a partition for each of `days`. Creating
    /// one takes an exclusive lock on its parent, so this runs outside
    /// (before) the batch transaction, and waits at most [`LOCK_TIMEOUT_MS`]
    /// for that lock: behind a long dashboard query, a waiting DDL would
    /// queue every later writer behind it, the aggregator included. A lock
    /// not had in time is an error to retry. A day seen before costs nothing.
    pub async fn ensure(&self, client: &mut Client, days: &[NaiveDate]) -> Result<(), tokio_postgres::Error> {
        let missing: Vec<NaiveDate> = {
            let known = self.known.lock().expect("partition cache lock");
            days.iter().filter(|d| !known.contains(d)).copied().collect()
        };
        for day in missing {
            let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
            let events = self.keeps_events_of(day).then_some(EVENTS_TABLE);
            for table in PARTITIONED_TABLES.into_iter().chain(events) {
                let room = match table != EVENTS_TABLE && takes_live_batches(day) {
                    true => format!(" WITH (fillfactor = {LIVE_FILLFACTOR})"),
                    false => String::new(),
                };
                let sql = format!(
                    "SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS};
                     CREATE TABLE IF NOT EXISTS {} PARTITION OF {table} FOR VALUES FROM ('{day}') TO ('{next}'){room}",
                    partition_name(table, day)
                );
                let transaction = client.transaction().await?;
                match transaction.batch_execute(&sql).await {
                    Ok(()) => transaction.commit().await?,
                    // Another aggregator created it between our check and our CREATE.
                    Err(e) if matches!(e.code(), Some(c) if *c == SqlState::DUPLICATE_TABLE || *c == SqlState::UNIQUE_VIOLATION) =>
                        {}
                    Err(e) => return Err(e),
                }
            }
            self.known.lock().expect("partition cache lock").insert(day);
        }
        Ok(())
    }

    /// Forgets which partitions exist, so the next [`Self::ensure`] checks
    /// again: another aggregator's maintenance may have dropped one.
    pub fn forget(&self) {
        self.known.lock().expect("partition cache lock").clear();
    }

    /// Drops every partition of `tables` of a day before `oldest_kept`;
    /// returns their names.
    pub async fn drop_before(
        &self,
        client: &Client,
        tables: &[&str],
        oldest_kept: NaiveDate,
    ) -> Result<Vec<String>, tokio_postgres::Error> {
        let rows = client
            .query(
                "SELECT c.relname, p.relname FROM pg_inherits i
                 JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                 WHERE p.relname = ANY($1)",
                &[&tables],
            )
            .await?;
        let mut dropped = Vec::new();
        for row in rows {
            let (name, parent): (String, String) = (row.get(0), row.get(1));
            let day =
                name.strip_prefix(&format!("{parent}_")).and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok());
            if let Some(day) = day.filter(|d| *d < oldest_kept) {
                // Dropping locks the parent: behind a long dashboard query a
                // waiting DROP would queue every writer behind it, so it gives
                // up after the lock timeout and the next round tries again.
                let sql = format!("SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}; DROP TABLE IF EXISTS {name}");
                let outcome = match client.batch_execute(&format!("BEGIN; {sql}; COMMIT")).await {
                    Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                        let _ = client.batch_execute("ROLLBACK").await;
                        tracing::warn!(partition = name, "partition busy; dropped next round");
                        continue;
                    }
                    other => other,
                };
                outcome?;
                self.known.lock().expect("partition cache lock").remove(&day);
                dropped.push(name);
            }
        }
        Ok(dropped)
    }
}

/// The oldest day whose data is kept `days` days (by UTC's date).
pub fn oldest_kept(days: u64) -> NaiveDate {
    let today = chrono::Utc::now().date_naive();
    today.checked_sub_days(Days::new(days)).unwrap_or(today)
}

/// Deletes batch ids recorded before `days` ago, a few thousand per statement
/// so no single statement holds locks for long. A batch redelivered after that
/// would be counted again; batches live minutes in the queues, not days.
pub async fn prune_batch_ids(client: &Client, days: i32) -> Result<u64, tokio_postgres::Error> {
    let mut total = 0;
    loop {
        let deleted = client
            .execute(
                "DELETE FROM processed_batches WHERE batch_id IN (
                     SELECT batch_id FROM processed_batches
                     WHERE processed_at < now() - make_interval(days => $1) LIMIT 5000)",
                &[&days],
            )
            .await?;
        total += deleted;
        if deleted < 5000 {
            return Ok(total);
        }
    }
}
