//! Visits without cookies: a visit is a run of one visitor id's events with no
//! gap longer than the site's visit gap (30 minutes by default).
//!
//! Each recent visitor's visits are kept in `visitor_visits` and changed in
//! the same transaction as the batch's rollups, so a redelivered batch (whose
//! id is already recorded) changes nothing, and two aggregators serialize on
//! the visitor's row lock. Rollups follow by difference: for every visitor a
//! batch touches, the visit rollups get what its visits contribute now minus
//! what they contributed before. Events may therefore arrive in any order, in
//! one batch or across batches: a second pageview turns a bounce into a visit
//! of two, an earlier event moves the entry page and the start, a later one
//! the exit page, and an event between two visits joins them.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use tokio_postgres::Transaction;
use tokio_postgres::types::Json;
use uuid::Uuid;

/// One counted event, as far as visits are concerned.
#[derive(Debug, Clone)]
pub struct Hit {
    pub site_id: Uuid,
    pub visitor: i64,
    pub at_ms: i64,
    pub is_view: bool,
    pub page: String,
    pub source: &'static str,
    pub timezone: Tz,
    pub gap_ms: i64,
}

/// One visit, as stored (JSON) in `visitor_visits.visits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub start: i64,
    pub last: i64,
    pub views: i64,
    pub entry: String,
    pub exit: String,
    pub source: String,
}

/// Visits no event can change any more are forgotten: ingest refuses events
/// older than 24 h, and delivery may add some hours.
const KEEP_MS: i64 = 48 * 3600 * 1000;

/// Adds `hit` to a visitor's visits (ordered by start): joins every visit it
/// is within the gap of, or starts a new one. Ties keep what was there.
pub fn add_hit(visits: &mut Vec<Visit>, hit: &Hit) {
    let t = hit.at_ms;
    let (joined, mut kept): (Vec<Visit>, Vec<Visit>) =
        visits.drain(..).partition(|v| v.start - hit.gap_ms <= t && t <= v.last + hit.gap_ms);
    let mut merged = Visit {
        start: t,
        last: t,
        views: i64::from(hit.is_view),
        entry: hit.page.clone(),
        exit: hit.page.clone(),
        source: hit.source.to_owned(),
    };
    for visit in joined {
        if visit.start <= merged.start {
            merged.start = visit.start;
            merged.entry = visit.entry;
            merged.source = visit.source;
        }
        if visit.last >= merged.last {
            merged.last = visit.last;
            merged.exit = visit.exit;
        }
        merged.views += visit.views;
    }
    kept.push(merged);
    kept.sort_by_key(|v| v.start);
    *visits = kept;
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VisitTotals {
    pub visits: i64,
    pub bounces: i64,
    pub duration_ms: i64,
    pub pageviews: i64,
}

/// Changes to the visit rollups. Ordered maps: every transaction touches rows
/// in the same order, so concurrent aggregators cannot deadlock.
#[derive(Debug, Default)]
pub struct VisitDeltas {
    pub totals: BTreeMap<(Uuid, NaiveDate, String), VisitTotals>,
    /// The same per local hour the visits began in, for the hourly chart.
    pub hourly: BTreeMap<(Uuid, NaiveDate, i16, String), VisitTotals>,
    /// (site, day, entry|exit, source, page) -> visits
    pub pages: BTreeMap<(Uuid, NaiveDate, &'static str, String, String), i64>,
}

impl VisitDeltas {
    /// Adds what `visits` contribute, times `sign` (-1 to take it back).
    pub fn contribute(&mut self, site_id: Uuid, timezone: Tz, visits: &[Visit], sign: i64) {
        for visit in visits {
            let Some((day, hour)) = crate::rollup::local_bucket(visit.start, timezone) else { continue };
            for totals in [
                self.totals.entry((site_id, day, visit.source.clone())).or_default(),
                self.hourly.entry((site_id, day, hour, visit.source.clone())).or_default(),
            ] {
                totals.visits += sign;
                totals.bounces += sign * i64::from(visit.views <= 1);
                totals.duration_ms += sign * (visit.last - visit.start);
                totals.pageviews += sign * visit.views;
            }
            for (kind, page) in [("entry", &visit.entry), ("exit", &visit.exit)] {
                *self.pages.entry((site_id, day, kind, visit.source.clone(), page.clone())).or_default() += sign;
            }
        }
    }

    /// Drops entries that cancelled out.
    fn prune(&mut self) {
        self.totals.retain(|_, t| *t != VisitTotals::default());
        self.hourly.retain(|_, t| *t != VisitTotals::default());
        self.pages.retain(|_, n| *n != 0);
    }
}

/// Applies `hits` to the visitors' stored visits and the visit rollups,
/// inside `transaction` (the one that records the batch ids).
pub async fn apply(transaction: &Transaction<'_>, mut hits: Vec<Hit>) -> Result<(), tokio_postgres::Error> {
    if hits.is_empty() {
        return Ok(());
    }
    let mut deltas = VisitDeltas::default();
    hits.sort_by_key(|h| (h.site_id, h.visitor, h.at_ms));
    let chunks: Vec<&[Hit]> = hits.chunk_by(|a, b| (a.site_id, a.visitor) == (b.site_id, b.visitor)).collect();
    let keys: Vec<(Uuid, i64)> = chunks.iter().map(|chunk| (chunk[0].site_id, chunk[0].visitor)).collect();
    // Locks the rows there are, then creates the others, both in key order
    // (so concurrent aggregators and imports cannot deadlock on them). An
    // INSERT of every visitor first would probe the key of each returning
    // one for nothing. A new row is created holding its visitor's visits,
    // so each row is written once: by the INSERT, or by the UPDATE below.
    // The rows the INSERT creates are ours until commit. A row another
    // transaction created after our lock (our INSERT waited for that one to
    // commit) is locked and read then, and updated like any other.
    let mut stored = lock(transaction, &keys).await?;
    let missing: Vec<usize> = (0..keys.len()).filter(|&i| !stored.contains_key(&keys[i])).collect();
    let fresh: Vec<Vec<Visit>> = missing.iter().map(|&i| visits_after(Vec::new(), chunks[i])).collect();
    let (fresh_visits, fresh_last): (Vec<_>, Vec<_>) =
        missing.iter().zip(&fresh).map(|(&i, visits)| stored_form(visits.clone(), chunks[i][0].at_ms)).unzip();
    let created =
        create(transaction, &missing.iter().map(|&i| keys[i]).collect::<Vec<_>>(), &fresh_visits, &fresh_last).await?;
    drop((fresh_visits, fresh_last));
    let raced: Vec<(Uuid, i64)> = missing.iter().map(|&i| keys[i]).filter(|k| !created.contains(k)).collect();
    stored.extend(lock(transaction, &raced).await?);
    for (&i, visits) in missing.iter().zip(&fresh) {
        if created.contains(&keys[i]) {
            deltas.contribute(keys[i].0, chunks[i][0].timezone, visits, 1);
        }
    }
    drop(fresh);

    let mut updated = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (chunk, key) in chunks.iter().zip(&keys) {
        if created.contains(key) {
            continue;
        }
        let first = &chunk[0];
        let before = stored.remove(key).unwrap_or_default();
        let after = visits_after(before.clone(), chunk);
        deltas.contribute(first.site_id, first.timezone, &before, -1);
        deltas.contribute(first.site_id, first.timezone, &after, 1);
        let (json, last) = stored_form(after, first.at_ms);
        updated.0.push(key.0);
        updated.1.push(key.1);
        updated.2.push(json);
        updated.3.push(last);
    }
    if !updated.0.is_empty() {
        transaction
            .execute(
                "UPDATE visitor_visits AS t SET visits = k.visits, last_seen = k.last_seen
                 FROM unnest($1::uuid[], $2::int8[], $3::jsonb[], $4::timestamptz[]) AS k(s, v, visits, last_seen)
                 WHERE t.site_id = k.s AND t.visitor_id = k.v",
                &[&updated.0, &updated.1, &updated.2, &updated.3],
            )
            .await?;
    }
    deltas.prune();
    write(transaction, &deltas).await?;
    write_live(transaction, &hits).await
}

/// A visitor's visits after its `hits` (ordered by time) join `visits`.
fn visits_after(mut visits: Vec<Visit>, hits: &[Hit]) -> Vec<Visit> {
    for hit in hits {
        add_hit(&mut visits, hit);
    }
    visits
}

/// Creates the rows of `keys` that no transaction has created, with their
/// `visits` and last event; returns the keys created.
async fn create(
    transaction: &Transaction<'_>,
    keys: &[(Uuid, i64)],
    visits: &[Json<Vec<Visit>>],
    last_seen: &[chrono::DateTime<chrono::Utc>],
) -> Result<std::collections::HashSet<(Uuid, i64)>, tokio_postgres::Error> {
    if keys.is_empty() {
        return Ok(Default::default());
    }
    let (sites, visitors): (Vec<Uuid>, Vec<i64>) = keys.iter().copied().unzip();
    let rows = transaction
        .query(
            "INSERT INTO visitor_visits (site_id, visitor_id, visits, last_seen)
             SELECT s, v, visits, last_seen
             FROM unnest($1::uuid[], $2::int8[], $3::jsonb[], $4::timestamptz[]) AS k(s, v, visits, last_seen)
             ORDER BY s, v
             ON CONFLICT (site_id, visitor_id) DO NOTHING
             RETURNING site_id, visitor_id",
            &[&sites, &visitors, &visits, &last_seen],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Locks the rows of `keys` there are, in key order, and reads their visits.
async fn lock(
    transaction: &Transaction<'_>,
    keys: &[(Uuid, i64)],
) -> Result<BTreeMap<(Uuid, i64), Vec<Visit>>, tokio_postgres::Error> {
    if keys.is_empty() {
        return Ok(BTreeMap::new());
    }
    let (sites, visitors): (Vec<Uuid>, Vec<i64>) = keys.iter().copied().unzip();
    let rows = transaction
        .query(
            "SELECT t.site_id, t.visitor_id, t.visits FROM visitor_visits t
             JOIN unnest($1::uuid[], $2::int8[]) AS k(s, v) ON t.site_id = k.s AND t.visitor_id = k.v
             ORDER BY t.site_id, t.visitor_id FOR UPDATE OF t",
            &[&sites, &visitors],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let visits = row.try_get::<_, Json<Vec<Visit>>>(2).map(|json| json.0).unwrap_or_default();
            ((row.get(0), row.get(1)), visits)
        })
        .collect())
}

/// Visits as `visitor_visits` keeps them, without those no event can change
/// any more (see [`KEEP_MS`]), and the time of the last (`fallback` when
/// there is none). Serialised straight into the statement's parameters
/// (no `serde_json::Value` tree in between: a group holds thousands).
fn stored_form(mut visits: Vec<Visit>, fallback: i64) -> (Json<Vec<Visit>>, chrono::DateTime<chrono::Utc>) {
    let last = visits.iter().map(|v| v.last).max().unwrap_or(fallback);
    visits.retain(|v| v.last >= last - KEEP_MS);
    (Json(visits), chrono::DateTime::from_timestamp_millis(last).unwrap_or_default())
}

/// Adds each hit's visitor to the sketch of its minute (event time).
async fn write_live(transaction: &Transaction<'_>, hits: &[Hit]) -> Result<(), tokio_postgres::Error> {
    let sites: Vec<Uuid> = hits.iter().map(|h| h.site_id).collect();
    let minutes: Vec<chrono::DateTime<chrono::Utc>> = hits
        .iter()
        .map(|h| chrono::DateTime::from_timestamp_millis(h.at_ms - h.at_ms.rem_euclid(60_000)).unwrap_or_default())
        .collect();
    let visitors: Vec<i64> = hits.iter().map(|h| h.visitor).collect();
    transaction
        .execute(
            "INSERT INTO live_visitors AS t (site_id, minute, visitors)
             SELECT s, m, hll_add_agg(hll_hash_bigint(v))
             FROM unnest($1::uuid[], $2::timestamptz[], $3::int8[]) AS k(s, m, v)
             WHERE m > now() - interval '1 hour'
             GROUP BY s, m ORDER BY s, m
             ON CONFLICT (site_id, minute) DO UPDATE SET visitors = hll_union(t.visitors, EXCLUDED.visitors)",
            &[&sites, &minutes, &visitors],
        )
        .await?;
    Ok(())
}

/// Adds `deltas` to the visit rollups (an import of daily visit figures
/// comes here directly, without visitors' visits).
pub(crate) async fn write(transaction: &Transaction<'_>, deltas: &VisitDeltas) -> Result<(), tokio_postgres::Error> {
    if !deltas.totals.is_empty() {
        let keys = deltas.totals.keys();
        let sites: Vec<Uuid> = keys.clone().map(|k| k.0).collect();
        let days: Vec<NaiveDate> = keys.clone().map(|k| k.1).collect();
        let sources: Vec<&str> = keys.map(|k| k.2.as_str()).collect();
        let column = |f: fn(&VisitTotals) -> i64| deltas.totals.values().map(f).collect::<Vec<i64>>();
        let (visits, bounces) = (column(|t| t.visits), column(|t| t.bounces));
        let (durations, pageviews) = (column(|t| t.duration_ms), column(|t| t.pageviews));
        transaction
            .execute(
                "INSERT INTO daily_visits AS t (site_id, local_day, source, visits, bounces, duration_ms, pageviews)
                 SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
                 ON CONFLICT (site_id, local_day, source) DO UPDATE SET
                     visits = t.visits + EXCLUDED.visits,
                     bounces = t.bounces + EXCLUDED.bounces,
                     duration_ms = t.duration_ms + EXCLUDED.duration_ms,
                     pageviews = t.pageviews + EXCLUDED.pageviews",
                &[&sites, &days, &sources, &visits, &bounces, &durations, &pageviews],
            )
            .await?;
    }
    if !deltas.hourly.is_empty() {
        let keys = deltas.hourly.keys();
        let sites: Vec<Uuid> = keys.clone().map(|k| k.0).collect();
        let days: Vec<NaiveDate> = keys.clone().map(|k| k.1).collect();
        let hours: Vec<i16> = keys.clone().map(|k| k.2).collect();
        let sources: Vec<&str> = keys.map(|k| k.3.as_str()).collect();
        let column = |f: fn(&VisitTotals) -> i64| deltas.hourly.values().map(f).collect::<Vec<i64>>();
        let (visits, bounces) = (column(|t| t.visits), column(|t| t.bounces));
        let (durations, pageviews) = (column(|t| t.duration_ms), column(|t| t.pageviews));
        transaction
            .execute(
                "INSERT INTO hourly_visits AS t (site_id, local_day, local_hour, source, visits, bounces, duration_ms, pageviews)
                 SELECT * FROM unnest($1::uuid[], $2::date[], $3::int2[], $4::text[], $5::int8[], $6::int8[], $7::int8[], $8::int8[])
                 ON CONFLICT (site_id, local_day, local_hour, source) DO UPDATE SET
                     visits = t.visits + EXCLUDED.visits,
                     bounces = t.bounces + EXCLUDED.bounces,
                     duration_ms = t.duration_ms + EXCLUDED.duration_ms,
                     pageviews = t.pageviews + EXCLUDED.pageviews",
                &[&sites, &days, &hours, &sources, &visits, &bounces, &durations, &pageviews],
            )
            .await?;
    }
    if !deltas.pages.is_empty() {
        let keys = deltas.pages.keys();
        let sites: Vec<Uuid> = keys.clone().map(|k| k.0).collect();
        let days: Vec<NaiveDate> = keys.clone().map(|k| k.1).collect();
        let kinds: Vec<&str> = keys.clone().map(|k| k.2).collect();
        let sources: Vec<&str> = keys.clone().map(|k| k.3.as_str()).collect();
        let pages: Vec<&str> = keys.map(|k| k.4.as_str()).collect();
        let visits: Vec<i64> = deltas.pages.values().copied().collect();
        transaction
            .execute(
                "INSERT INTO daily_visit_pages AS t (site_id, local_day, kind, source, page, visits)
                 SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[], $5::text[], $6::int8[])
                 ON CONFLICT (site_id, local_day, kind, source, page) DO UPDATE SET visits = t.visits + EXCLUDED.visits",
                &[&sites, &days, &kinds, &sources, &pages, &visits],
            )
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn hit(at_min: i64, page: &str) -> Hit {
        Hit {
            site_id: Uuid::nil(),
            visitor: 1,
            at_ms: at_min * MIN,
            is_view: true,
            page: page.into(),
            source: analytics_events::TrafficSource::Web.as_str(),
            timezone: chrono_tz::UTC,
            gap_ms: 30 * MIN,
        }
    }

    fn visits_of(hits: &[Hit]) -> Vec<(i64, i64, i64, String, String)> {
        let mut visits = Vec::new();
        hits.iter().for_each(|h| add_hit(&mut visits, h));
        visits.into_iter().map(|v| (v.start / MIN, v.last / MIN, v.views, v.entry, v.exit)).collect()
    }

    #[test]
    fn gaps_split_and_late_events_join_or_reorder() {
        let v = |s: i64, l: i64, n: i64, e: &str, x: &str| (s, l, n, e.to_owned(), x.to_owned());
        assert_eq!(visits_of(&[hit(0, "/a"), hit(5, "/b"), hit(20, "/c")]), vec![v(0, 20, 3, "/a", "/c")]);
        assert_eq!(visits_of(&[hit(0, "/a"), hit(31, "/b")]), vec![v(0, 0, 1, "/a", "/a"), v(31, 31, 1, "/b", "/b")]);
        assert_eq!(visits_of(&[hit(0, "/a"), hit(30, "/b")]), vec![v(0, 30, 2, "/a", "/b")], "30 min is no gap");
        assert_eq!(visits_of(&[hit(20, "/c"), hit(0, "/a"), hit(10, "/b")]), vec![v(0, 20, 3, "/a", "/c")]);
        // An event between two visits joins them.
        assert_eq!(visits_of(&[hit(0, "/p"), hit(60, "/q"), hit(30, "/r")]), vec![v(0, 60, 3, "/p", "/q")]);
    }

    /// A visitor's row that another transaction creates after ours looked
    /// for it (our INSERT waits for that one to commit) is read and added
    /// to, not overwritten: one visit of two pageviews, in the row and in
    /// the rollups.
    #[tokio::test]
    async fn a_row_created_meanwhile_is_added_to() {
        let namespace = analytics_testkit::Namespace::create().await;
        let (mut first, mut second, watch) = (namespace.db().await, namespace.db().await, namespace.db().await);
        let site = Uuid::new_v4();
        let (early, late) = (Hit { site_id: site, ..hit(0, "/a") }, Hit { site_id: site, ..hit(10, "/b") });
        let creating = first.transaction().await.expect("begin");
        apply(&creating, vec![early]).await.expect("the first visit");
        let racing = tokio::spawn(async move {
            let ours = second.transaction().await.expect("begin");
            apply(&ours, vec![late]).await.expect("the second pageview");
            ours.commit().await.expect("commit");
        });
        let waiting = "SELECT count(*) FROM pg_stat_activity
                       WHERE datname = current_database() AND wait_event_type = 'Lock'";
        analytics_testkit::eventually("the INSERT to wait", std::time::Duration::from_secs(10), || async {
            (watch.query_one(waiting, &[]).await.ok()?.get::<_, i64>(0) == 1).then_some(())
        })
        .await;
        creating.commit().await.expect("commit");
        racing.await.expect("the racing transaction");

        let row = watch.query_one("SELECT visits FROM visitor_visits", &[]).await.expect("the visitor's row");
        let visits: Vec<Visit> = serde_json::from_value(row.get(0)).expect("visits");
        let summary: Vec<_> = visits.iter().map(|v| (v.views, v.entry.as_str(), v.exit.as_str())).collect();
        assert_eq!(summary, vec![(2, "/a", "/b")]);
        let totals = watch
            .query_one("SELECT sum(visits)::int8, sum(bounces)::int8, sum(pageviews)::int8 FROM daily_visits", &[])
            .await
            .expect("visit totals");
        assert_eq!((totals.get::<_, i64>(0), totals.get::<_, i64>(1), totals.get::<_, i64>(2)), (1, 0, 2));
    }

    /// A new visitor's row is created holding its visits and a returning
    /// one's updated: one row version written per visitor and transaction
    /// (rows written twice cost Postgres a second version each and their
    /// cleanup later).
    #[tokio::test]
    async fn each_visitor_row_is_written_once() {
        let namespace = analytics_testkit::Namespace::create().await;
        let mut db = namespace.db().await;
        let site = Uuid::new_v4();
        let written = "SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'visitor_visits'";
        for (minute, expected) in [(0, (1, 0)), (10, (0, 1))] {
            let transaction = db.transaction().await.expect("begin");
            // The view's counts may include earlier transactions' not yet
            // flushed to the statistics: compare before and after.
            let counts = |row: tokio_postgres::Row| (row.get::<_, i64>(0), row.get::<_, i64>(1));
            let before = transaction.query_opt(written, &[]).await.expect("row writes").map_or((0, 0), counts);
            let hits = vec![Hit { site_id: site, ..hit(minute, "/a") }, Hit { site_id: site, ..hit(minute + 1, "/b") }];
            apply(&transaction, hits).await.expect("applied");
            let after = counts(transaction.query_one(written, &[]).await.expect("row writes"));
            assert_eq!((after.0 - before.0, after.1 - before.1), expected, "rows inserted, updated at {minute}");
            transaction.commit().await.expect("commit");
        }
        let row = db.query_one("SELECT visits FROM visitor_visits", &[]).await.expect("the visitor's row");
        let visits: Vec<Visit> = serde_json::from_value(row.get(0)).expect("visits");
        let summary: Vec<_> = visits.iter().map(|v| (v.views, v.entry.as_str(), v.exit.as_str())).collect();
        assert_eq!(summary, vec![(4, "/a", "/b")]);
    }

    #[test]
    fn rollups_follow_by_difference() {
        let mut deltas = VisitDeltas::default();
        let mut visits = Vec::new();
        add_hit(&mut visits, &hit(10, "/x"));
        deltas.contribute(Uuid::nil(), chrono_tz::UTC, &visits, 1);
        let before = visits.clone();
        add_hit(&mut visits, &hit(0, "/w"));
        deltas.contribute(Uuid::nil(), chrono_tz::UTC, &before, -1);
        deltas.contribute(Uuid::nil(), chrono_tz::UTC, &visits, 1);
        deltas.prune();
        let totals: Vec<_> = deltas.totals.values().copied().collect();
        assert_eq!(totals, vec![VisitTotals { visits: 1, bounces: 0, duration_ms: 10 * MIN, pageviews: 2 }]);
        let pages: Vec<_> = deltas.pages.iter().map(|(k, n)| (k.2, k.4.as_str(), *n)).collect();
        assert_eq!(pages, vec![("entry", "/w", 1), ("exit", "/x", 1)]);
    }
}
