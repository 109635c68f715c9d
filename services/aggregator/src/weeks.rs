//! Week rows of the dimensions (migration V15): a week's daily rows summed
//! once the week is over, so that a range reads whole weeks where it would
//! have read up to 29 days (the query service's `split`).
//!
//! Who writes them, and why they stay exact:
//! - the sealer ([`seal_over`], from maintenance and after a backfill) sums a
//!   week that is over from its days and marks it sealed, in one transaction;
//! - a batch with days in a sealed week (late events, an import, a backfill)
//!   adds its deltas to the week's rows as well as to the days' ([`Hold`]);
//! - a rebuild sums the week again from its days ([`sum_again`]).
//!
//! Each of them first takes an advisory lock on (site, week): shared for a
//! batch, exclusive for the sealer and a rebuild. A batch that holds it from
//! before it reads the seals until it commits is therefore either wholly
//! before a sealing (whose sums then include its days' rows) or wholly after
//! it (and then sees the seal and adds to the week itself), never between.
//! Live batches write today's week, which no sealer can seal yet: they take
//! no lock.

use std::collections::{BTreeSet, HashSet};

use chrono::{Datelike, Days, NaiveDate};
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

use crate::rollup::Deltas;

/// The week's tables: sketches per source, and counts per value.
const WEEK_TABLES: DimensionTables =
    DimensionTables { rows: "weekly_dimensions", counts: "weekly_dimension_counts", period: "week" };

/// A pair of dimension tables of one period (week or month).
#[derive(Clone, Copy)]
pub(crate) struct DimensionTables {
    /// With the sketches, a row per source (`*_dimensions`).
    pub rows: &'static str,
    /// Narrow, a row per value and a column per source (`*_dimension_counts`).
    pub counts: &'static str,
    /// Both tables' column of the period's first day.
    pub period: &'static str,
}

/// The Monday of `day`'s ISO week.
pub fn monday_of(day: NaiveDate) -> NaiveDate {
    day.checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday()))).unwrap_or(day)
}

/// The advisory lock key of a (site, week), in SQL over columns `s` and `w`.
/// Two pairs sharing a key only wait for each other a little more.
const LOCK_KEY: &str = "hashtextextended(s::text || '/' || w::text, 15)";

/// The sealed weeks a batch writes into, held (shared) until it commits.
pub(crate) struct Hold {
    sealed: HashSet<(Uuid, NaiveDate)>,
}

impl Hold {
    /// Takes the shared lock of every (site, week) `deltas` has dimension
    /// rows in, then reads which of them are sealed (in a statement of its
    /// own: one started before a sealer committed would not see the seal).
    ///
    /// Weeks that end today (UTC) or later are left out: a sealer seals a
    /// week two days after its Sunday at the earliest ([`seal_over`]), two
    /// UTC midnights after this transaction began: no transaction stays open
    /// that long, and no two clocks are a day apart. Live batches, which write
    /// today's week, so take no lock and read nothing here.
    pub(crate) async fn take(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<Self, tokio_postgres::Error> {
        let today = chrono::Utc::now().date_naive();
        let weeks: BTreeSet<(Uuid, NaiveDate)> = deltas
            .dimensions
            .keys()
            .map(|k| (k.site_id, monday_of(k.period)))
            .filter(|(_, monday)| *monday + Days::new(6) < today)
            .collect();
        if weeks.is_empty() {
            return Ok(Self { sealed: HashSet::new() });
        }
        let sites: Vec<Uuid> = weeks.iter().map(|w| w.0).collect();
        let mondays: Vec<NaiveDate> = weeks.iter().map(|w| w.1).collect();
        let sql = format!(
            "SELECT count(pg_advisory_xact_lock_shared({LOCK_KEY})) FROM unnest($1::uuid[], $2::date[]) AS k(s, w)"
        );
        transaction.execute(&sql, &[&sites, &mondays]).await?;
        let sealed = transaction
            .query(
                "SELECT site_id, week FROM sealed_weeks
                 WHERE (site_id, week) IN (SELECT * FROM unnest($1::uuid[], $2::date[]))",
                &[&sites, &mondays],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok(Self { sealed })
    }

    /// Adds the deltas of days in sealed weeks to those weeks' rows.
    pub(crate) async fn add(
        &self,
        transaction: &Transaction<'_>,
        deltas: &Deltas,
    ) -> Result<(), tokio_postgres::Error> {
        if self.sealed.is_empty() {
            return Ok(());
        }
        let weekly = crate::apply::per_period(deltas, |key| {
            let monday = monday_of(key.period);
            self.sealed.contains(&(key.site_id, monday)).then_some(monday)
        });
        crate::apply::upsert_period(transaction, WEEK_TABLES, &weekly).await
    }
}

/// Takes the exclusive lock of a site's week: no batch writes into the week
/// until the transaction ends.
async fn lock_week(transaction: &Transaction<'_>, site: Uuid, week: NaiveDate) -> Result<(), tokio_postgres::Error> {
    let sql = format!("SELECT pg_advisory_xact_lock({LOCK_KEY}) FROM (SELECT $1::uuid, $2::date) AS k(s, w)");
    transaction.execute(&sql, &[&site, &week]).await?;
    Ok(())
}

/// Sums `tables`' rows of a site's period (`first` up to `next`, excluded)
/// again from the daily rows.
pub(crate) async fn sum_from_days(
    transaction: &Transaction<'_>,
    site: Uuid,
    tables: DimensionTables,
    first: NaiveDate,
    next: NaiveDate,
) -> Result<(), tokio_postgres::Error> {
    let period = tables.period;
    let counts: Vec<String> = analytics_events::TrafficSource::ALL
        .iter()
        .flat_map(|s| [format!("pageviews_{}", s.as_str()), format!("events_{}", s.as_str())])
        .collect();
    let sums: Vec<String> = counts.iter().map(|c| format!("sum({c})")).collect();
    let statements = [
        (
            tables.rows,
            format!(
                "INSERT INTO {} (site_id, dimension, {period}, source, value, pageviews, events, visitors)
                 SELECT site_id, dimension, $2, source, value, sum(pageviews), sum(events), hll_union_agg(visitors)
                 FROM daily_dimensions WHERE site_id = $1 AND local_day >= $2 AND local_day < $3
                 GROUP BY site_id, dimension, source, value",
                tables.rows
            ),
        ),
        (
            tables.counts,
            format!(
                "INSERT INTO {} (site_id, dimension, {period}, value, {})
                 SELECT site_id, dimension, $2, value, {}
                 FROM daily_dimension_counts WHERE site_id = $1 AND local_day >= $2 AND local_day < $3
                 GROUP BY site_id, dimension, value",
                tables.counts,
                counts.join(", "),
                sums.join(", ")
            ),
        ),
    ];
    for (table, insert) in statements {
        let delete = format!("DELETE FROM {table} WHERE site_id = $1 AND {period} = $2");
        transaction.execute(&delete, &[&site, &first]).await?;
        transaction.execute(&insert, &[&site, &first, &next]).await?;
    }
    Ok(())
}

/// For a rebuild of `day` (called before it touches any rollup row): locks
/// the day's week, and says whether the week is sealed (its rows are then to
/// be summed again by [`sum_again`]).
pub(crate) async fn lock_for_rebuild(
    transaction: &Transaction<'_>,
    site: Uuid,
    day: NaiveDate,
) -> Result<bool, tokio_postgres::Error> {
    let week = monday_of(day);
    lock_week(transaction, site, week).await?;
    let sealed = transaction
        .query_opt("SELECT 1 FROM sealed_weeks WHERE site_id = $1 AND week = $2", &[&site, &week])
        .await?
        .is_some();
    Ok(sealed)
}

/// The week of `day` summed again from its days (after a rebuild of `day`).
pub(crate) async fn sum_again(
    transaction: &Transaction<'_>,
    site: Uuid,
    day: NaiveDate,
) -> Result<(), tokio_postgres::Error> {
    let week = monday_of(day);
    sum_from_days(transaction, site, WEEK_TABLES, week, week + Days::new(7)).await
}

/// Seals every week that is over (by a day's margin, for the time zones
/// ahead of UTC) and has daily rows on or after `oldest_kept` only, one week
/// per transaction; returns how many it sealed.
pub async fn seal_over(client: &mut Client, today_utc: NaiveDate, oldest_kept: NaiveDate) -> anyhow::Result<u64> {
    // A week is over when its Sunday is before every site's today, and local
    // days run up to a day behind UTC's: Sunday + 1 < today.
    let last_monday = monday_of(today_utc - Days::new(8));
    let first_monday = monday_of(oldest_kept);
    let first_monday = if first_monday < oldest_kept { first_monday + Days::new(7) } else { first_monday };
    let due = client
        .query(
            "SELECT DISTINCT d.site_id, date_trunc('week', d.local_day)::date AS week FROM daily_totals d
             WHERE d.local_day >= $1 AND d.local_day < $2::date + 7
               AND NOT EXISTS (SELECT 1 FROM sealed_weeks s
                               WHERE s.site_id = d.site_id AND s.week = date_trunc('week', d.local_day)::date)
             ORDER BY 2, 1",
            &[&first_monday, &last_monday],
        )
        .await?;
    let mut sealed = 0;
    for row in due {
        let (site, week): (Uuid, NaiveDate) = (row.get(0), row.get(1));
        let transaction = client.transaction().await?;
        // The goal lock first, as every writer takes it: a goal added meanwhile
        // derives its week rows from these, or these are summed from its day rows.
        analytics_store::goals::lock_shared(&transaction, &[site]).await?;
        lock_week(&transaction, site, week).await?;
        let new = transaction
            .execute("INSERT INTO sealed_weeks (site_id, week) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&site, &week])
            .await?;
        if new == 1 {
            sum_from_days(&transaction, site, WEEK_TABLES, week, week + Days::new(7)).await?;
            sealed += 1;
        }
        transaction.commit().await?;
    }
    Ok(sealed)
}

/// Week rows and seals of weeks that begin before `oldest_kept` (some of
/// their days are gone).
pub async fn forget_before(client: &Client, oldest_kept: NaiveDate) -> Result<u64, tokio_postgres::Error> {
    let mut removed = 0;
    for table in [WEEK_TABLES.rows, WEEK_TABLES.counts, "sealed_weeks"] {
        removed += client.execute(&format!("DELETE FROM {table} WHERE week < $1"), &[&oldest_kept]).await?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_begin_on_monday() {
        let d = |s: &str| s.parse::<NaiveDate>().expect("date");
        assert_eq!(monday_of(d("2026-12-02")), d("2026-11-30"));
        assert_eq!(monday_of(d("2026-11-30")), d("2026-11-30"));
        assert_eq!(monday_of(d("2026-12-06")), d("2026-11-30"));
        assert_eq!(monday_of(d("2027-01-01")), d("2026-12-28"));
    }
}
