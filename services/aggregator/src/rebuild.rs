//! `analytics-ctl rebuild`: a site's rollups of some days computed again
//! from the kept events (after the value bound or a rule changed, after a
//! repair), one day per transaction, while live events keep arriving.
//!
//! Per day: the day's partition of the kept events is locked against
//! writers (`SHARE`: an aggregator that is writing into it finishes first,
//! one that comes later waits, and it writes its events before any rollup
//! row, see `apply`), the events are read, the site's rows of that day are
//! deleted from every daily rollup and written again from them, and the
//! month's sums (and the week's, when it is sealed: see `weeks`) are computed
//! again from its days. A live batch of that day
//! waits for the commit and then adds to the rebuilt rows; batches of other
//! days go on (the monthly tables are locked against writers only for the
//! last statements of each day).
//!
//! What the kept events cannot give back stays as it is: visits (a visit
//! spans days, and its state lives with the visitor), page titles, and the
//! client of an event (its user agent is not kept: a day is rebuilt with
//! the device, browser and system it was counted with). A day's hours are
//! placed in the site's current time zone; its events stay on the local
//! day they were counted on.

use std::time::Duration;

use analytics_events::speed::METRICS;
use analytics_events::{Dimension, TrafficSource};
use analytics_store::sites::Site;
use chrono::NaiveDate;
use futures_util::TryStreamExt;
use serde::Serialize;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Row, Transaction};

use crate::import::ImportSettings;
use crate::partitions::{EVENTS_TABLE, PARTITIONED_TABLES, Partitions, partition_name};
use crate::rollup::{Deltas, DimensionKey, HourKey, SpeedKey, local_bucket};

/// Most days one command rebuilds: a year and a bit.
pub const MAX_DAYS: u64 = 400;

/// Tries of one day when a lock is not had in time or a deadlock is found.
const TRIES: u32 = 5;

/// Longest wait for a lock (the day's events, the monthly tables): a
/// dashboard query or a slow batch ahead of it, not an outage.
const LOCK_TIMEOUT: &str = "10s";

/// Tables of small rollups keyed by site and local day (not partitioned).
const DAILY_TABLES: [&str; 3] = ["daily_totals", "daily_site_speed", "daily_value_counts"];

/// The dimensions every counted event has a value in (see
/// `rollup::Reading::dimensions`); the others only where it is not empty.
const ALWAYS: [Dimension; 6] = [
    Dimension::Page,
    Dimension::Country,
    Dimension::Device,
    Dimension::Browser,
    Dimension::BrowserVersion,
    Dimension::Os,
];

/// One day rebuilt: how many kept events it was rebuilt from.
#[derive(Debug, Serialize, PartialEq)]
pub struct RebuiltDay {
    pub day: NaiveDate,
    pub events: i64,
}

/// Rebuilds the rollups of `site` (an id or a domain) from `from` to `to`
/// (local days, both included), oldest first; stops at the first day that
/// cannot be rebuilt, with an error naming it (the days before it stay rebuilt).
pub async fn run(
    client: &mut Client,
    settings: &ImportSettings,
    site: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<Vec<RebuiltDay>> {
    let site = analytics_store::sites::site_argument(client, site).await?;
    let days = checked_days(settings, from, to)?;
    refuse_summed_imports(client, &site, from, to).await?;
    let mut rebuilt = Vec::with_capacity(days.len());
    for day in days {
        Partitions::new(None).ensure(client, &[day]).await?;
        let events = rebuild_with_retries(client, &site, day, settings.max_values_per_day).await?;
        tracing::info!(%day, events, "day rebuilt");
        rebuilt.push(RebuiltDay { day, events });
    }
    Ok(rebuilt)
}

/// The days from `from` to `to`, or why they cannot be rebuilt: events not
/// kept at all, or not kept that far back, or a month whose first days the
/// rollups no longer hold (its sums could not be computed again).
fn checked_days(settings: &ImportSettings, from: NaiveDate, to: NaiveDate) -> anyhow::Result<Vec<NaiveDate>> {
    anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
    let count = (to - from).num_days() as u64 + 1;
    anyhow::ensure!(count <= MAX_DAYS, "{count} days from {from} to {to}: at most {MAX_DAYS} at once");
    anyhow::ensure!(
        settings.keep_events,
        "events are not kept (keep_events = false): there is nothing to rebuild from"
    );
    let oldest_event = crate::partitions::oldest_kept(settings.raw_retention_days);
    anyhow::ensure!(
        from >= oldest_event,
        "{from}: no kept events (they are kept for raw_retention_days = {}, from {oldest_event})",
        settings.raw_retention_days
    );
    let oldest_rollup = crate::partitions::oldest_kept(settings.retention_days);
    let month = crate::apply::first_of_month(from);
    anyhow::ensure!(
        month >= oldest_rollup,
        "{from}: its month began on {month}, before the rollups' retention (from {oldest_rollup}), \
         so its monthly sums cannot be computed again"
    );
    Ok(from.iter_days().take(count as usize).collect())
}

/// Days of a Plausible import have figures but no events behind them: a
/// rebuild would erase them.
async fn refuse_summed_imports(client: &Client, site: &Site, from: NaiveDate, to: NaiveDate) -> anyhow::Result<()> {
    let row = client
        .query_opt(
            "SELECT first_day, last_day FROM imports
             WHERE site_id = $1 AND source = 'plausible' AND first_day <= $3 AND last_day >= $2
             ORDER BY first_day LIMIT 1",
            &[&site.id, &from, &to],
        )
        .await?;
    if let Some(row) = row {
        let (first, last): (NaiveDate, NaiveDate) = (row.get(0), row.get(1));
        anyhow::bail!(
            "{} to {}: imported from Plausible as daily figures, with no events to rebuild from",
            first.max(from),
            last.min(to)
        );
    }
    Ok(())
}

/// Rebuilds one day, again when it lost a lock wait or a deadlock (a live
/// batch is simply retried by its aggregator), a few times.
async fn rebuild_with_retries(
    client: &mut Client,
    site: &Site,
    day: NaiveDate,
    max_values_per_day: i64,
) -> anyhow::Result<i64> {
    let mut tries = 0;
    loop {
        tries += 1;
        match rebuild_day(client, site, day, max_values_per_day).await {
            Ok(events) => return Ok(events),
            Err(RebuildError::Postgres(e)) if tries < TRIES && retryable(&e) => {
                tracing::warn!(%day, error = %e, "rebuild of the day tried again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
            }
            Err(RebuildError::Postgres(e)) => return Err(anyhow::Error::from(e).context(format!("rebuilding {day}"))),
            Err(RebuildError::NoEvents) => {
                anyhow::bail!("{day}: no kept events (its partition of the events table does not exist)")
            }
        }
    }
}

fn retryable(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        [SqlState::LOCK_NOT_AVAILABLE, SqlState::T_R_DEADLOCK_DETECTED, SqlState::T_R_SERIALIZATION_FAILURE]
            .contains(code)
    })
}

#[derive(Debug)]
enum RebuildError {
    Postgres(tokio_postgres::Error),
    NoEvents,
}

impl From<tokio_postgres::Error> for RebuildError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.code() {
            Some(code) if *code == SqlState::UNDEFINED_TABLE => RebuildError::NoEvents,
            _ => RebuildError::Postgres(error),
        }
    }
}

/// Rebuilds one day in one transaction; returns how many kept events it read.
async fn rebuild_day(
    client: &mut Client,
    site: &Site,
    day: NaiveDate,
    max_values_per_day: i64,
) -> Result<i64, RebuildError> {
    let transaction = client.transaction().await?;
    let partition = partition_name(EVENTS_TABLE, day);
    transaction
        .batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; LOCK TABLE {partition} IN SHARE MODE"))
        .await?;
    let goals = crate::goal_rows::Held::take_of(&transaction, &[site.id]).await?;
    let week_sealed = crate::weeks::lock_for_rebuild(&transaction, site.id, day).await?;
    let (mut deltas, events) = read_day(&transaction, site, day).await?;
    for table in PARTITIONED_TABLES.iter().chain(&DAILY_TABLES) {
        let sql = format!("DELETE FROM {table} WHERE site_id = $1 AND local_day = $2");
        transaction.execute(&sql, &[&site.id, &day]).await?;
    }
    deltas.finish();
    crate::long_tail::fold(&transaction, &mut deltas, max_values_per_day).await?;
    goals.add_to(&mut deltas);
    crate::apply::write_days(&transaction, &deltas).await?;
    if week_sealed {
        crate::weeks::sum_again(&transaction, site.id, day).await?;
    }
    sum_month_again(&transaction, site, crate::apply::first_of_month(day)).await?;
    transaction.commit().await?;
    Ok(events)
}

/// The day's kept events of `site` as rollup deltas, and how many there were.
async fn read_day(transaction: &Transaction<'_>, site: &Site, day: NaiveDate) -> Result<(Deltas, i64), RebuildError> {
    let columns: Vec<&str> = Dimension::ALL.iter().map(|d| d.as_str()).collect();
    let sql = format!(
        "SELECT kind, source, (extract(epoch FROM at) * 1000)::int8, visitor_id, props->>'status', {}, {}
         FROM events WHERE site_id = $1 AND local_day = $2",
        columns.join(", "),
        METRICS.join(", ")
    );
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&site.id, &day];
    let rows = transaction.query_raw(&sql, params).await?;
    futures_util::pin_mut!(rows);
    let mut deltas = Deltas::default();
    let mut events = 0;
    while let Some(row) = rows.try_next().await? {
        add_kept(&mut deltas, site, day, &row);
        events += 1;
    }
    Ok((deltas, events))
}

/// Where a kept row's columns are (see [`read_day`]'s statement).
const FIRST_DIMENSION: usize = 5;
const FIRST_METRIC: usize = FIRST_DIMENSION + Dimension::ALL.len();

/// Adds one kept event to `deltas` as the aggregator counted it: a pageview
/// or custom event to the hour, its dimensions and its app's health; the
/// timings of any kept row to the speed histograms.
fn add_kept(deltas: &mut Deltas, site: &Site, day: NaiveDate, row: &Row) {
    let kind: i16 = row.get(0);
    let Some(source) = TrafficSource::ALL.iter().map(|s| s.as_str()).find(|s| *s == row.get::<_, &str>(1)) else {
        return; // the aggregator only keeps these sources
    };
    let at_ms: i64 = row.get(2);
    let visitor: i64 = row.get(3);
    let site_id = site.id;
    let page: &str = row.get(FIRST_DIMENSION + dimension_index(Dimension::Page));
    for (i, metric) in METRICS.iter().enumerate() {
        if let Some(value) = row.get::<_, Option<i32>>(FIRST_METRIC + i).and_then(|v| u32::try_from(v).ok()) {
            let key = SpeedKey { site_id, local_day: day, metric, source, path: page.to_owned() };
            deltas.speed.entry(key).or_default().add(value);
        }
    }
    deltas.counted += 1;
    let is_pageview = match kind {
        0 => true,
        1 => false,
        _ => return, // timings of a page counted by its pageview: nothing else
    };
    let hour = local_bucket(at_ms, site.timezone).map_or(0, |(_, hour)| hour);
    let key = HourKey { site_id, local_day: day, local_hour: hour, source };
    deltas.hourly.entry(key).or_default().add(is_pageview, visitor);
    for (i, dimension) in Dimension::ALL.into_iter().enumerate() {
        let value: &str = row.get(FIRST_DIMENSION + i);
        if value.is_empty() && !ALWAYS.contains(&dimension) {
            continue;
        }
        let key = DimensionKey { site_id, period: day, dimension: dimension.as_str(), source, value: value.to_owned() };
        deltas.dimensions.entry(key).or_default().add(is_pageview, visitor);
    }
    let version: &str = row.get(FIRST_DIMENSION + dimension_index(Dimension::AppVersion));
    let status = row.get::<_, Option<&str>>(4).and_then(|s| s.parse::<u16>().ok());
    if let (true, false, Some(status)) = (source == TrafficSource::App.as_str(), version.is_empty(), status) {
        let response_ms = row.get::<_, Option<i32>>(FIRST_METRIC).and_then(|v| u32::try_from(v).ok());
        deltas.app_health.entry((site_id, day, version.to_owned())).or_default().add(status, response_ms);
    }
}

fn dimension_index(dimension: Dimension) -> usize {
    Dimension::ALL.iter().position(|d| *d == dimension).expect("every dimension is in ALL")
}

/// The site's monthly rows of `month` summed again from its days. The
/// monthly tables are locked against writers first, so that no batch of
/// another day of the month adds to a row between the delete and the sum.
async fn sum_month_again(
    transaction: &Transaction<'_>,
    site: &Site,
    month: NaiveDate,
) -> Result<(), tokio_postgres::Error> {
    let next = month.checked_add_months(chrono::Months::new(1)).unwrap_or(month);
    transaction
        .batch_execute(
            "LOCK TABLE monthly_dimensions, monthly_dimension_counts, monthly_speed IN SHARE ROW EXCLUSIVE MODE",
        )
        .await?;
    crate::weeks::sum_from_days(transaction, site.id, crate::apply::MONTH_TABLES, month, next).await?;
    let insert = "INSERT INTO monthly_speed (site_id, month, metric, source, path, count, sum_ms, histogram)
                  SELECT site_id, $2, metric, source, path, sum(count), sum(sum_ms), analytics_histogram_sum(histogram)
                  FROM daily_speed WHERE site_id = $1 AND local_day >= $2 AND local_day < $3
                  GROUP BY site_id, metric, source, path";
    transaction.execute("DELETE FROM monthly_speed WHERE site_id = $1 AND month = $2", &[&site.id, &month]).await?;
    transaction.execute(insert, &[&site.id, &month, &next]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Days;

    fn settings() -> ImportSettings {
        ImportSettings {
            ua_regexes: "unused".into(),
            ua_cache_size: 1,
            sessions: true,
            max_values_per_day: 10,
            retention_days: 760,
            chunk_rows: 1,
            keep_events: true,
            raw_retention_days: 90,
        }
    }

    fn today() -> NaiveDate {
        chrono::Utc::now().date_naive()
    }

    #[test]
    fn days_are_those_asked_for_within_the_kept_events() {
        let to = today();
        let from = to.checked_sub_days(Days::new(2)).expect("day");
        let days = checked_days(&settings(), from, to).expect("days");
        assert_eq!(days, vec![from, from.succ_opt().expect("day"), to]);
    }

    #[test]
    fn refuses_what_cannot_be_rebuilt() {
        let to = today();
        let error = |settings: &ImportSettings, from: NaiveDate, to: NaiveDate| {
            checked_days(settings, from, to).expect_err("refused").to_string()
        };
        let tomorrow = to.checked_add_days(Days::new(1)).expect("day");
        assert!(error(&settings(), tomorrow, to).contains("is after --to"));
        let old = to.checked_sub_days(Days::new(100)).expect("day");
        assert!(error(&settings(), old, to).contains("no kept events"));
        let mut not_kept = settings();
        not_kept.keep_events = false;
        assert!(error(&not_kept, to, to).contains("keep_events = false"));
        let mut short = settings();
        short.retention_days = 0;
        let first = crate::apply::first_of_month(to);
        if first < to {
            assert!(error(&short, to, to).contains("before the rollups' retention"));
        }
        let far = to.checked_add_days(Days::new(MAX_DAYS)).expect("day");
        assert!(error(&settings(), to, far).contains("at most"));
    }
}
