//! Answers from the kept events (table `events`, migration V12) rather than
//! the rollups: segments (`filter=`), custom properties and goals. Visitors
//! here are exact distinct visitor ids, not sketches, and visits are built
//! from the segment's own events (a gap of the site's visit gap starts a new
//! one; a visit belongs to the day and hour it began). The events go back
//! `raw_retention_days` (90 by default): older days count nothing.

use std::collections::HashMap;

use chrono::NaiveDate;
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::filters::Filters;
use crate::params::DayRange;
use crate::stats::{HourKey, Row, SpeedRow, Totals, VisitSums};

type Param<'a> = &'a (dyn ToSql + Sync);

/// `kind` of a pageview, of a custom event, and of a page's later timings.
const PAGEVIEW: &str = "kind = 0";
const CUSTOM: &str = "kind = 1";
const COUNTED: &str = "kind < 2";

/// The events of one site, source and segment.
pub struct Segment<'a> {
    pub site: Uuid,
    pub source: Option<&'static str>,
    pub filters: &'a Filters,
}

impl Segment<'_> {
    /// Its conditions over `events` (`$1` the site, `$2` the source, then
    /// the filters'), with their parameters; a statement numbers its own
    /// parameters after them.
    pub(crate) fn conditions(&self) -> (String, Vec<Param<'_>>) {
        let (filters, values) = self.filters.sql(3);
        let mut params: Vec<Param<'_>> = vec![&self.site, &self.source];
        params.extend(values);
        (format!("site_id = $1 AND ($2::text IS NULL OR source = $2){filters}"), params)
    }
}

/// Pageviews, visitors and events per range, in the order of `ranges`.
pub async fn totals_per_range(
    client: &Client,
    segment: &Segment<'_>,
    ranges: &[DayRange],
) -> Result<Vec<Totals>, tokio_postgres::Error> {
    let (conditions, mut params) = segment.conditions();
    let (froms, tos) = bounds(ranges);
    let n = params.len();
    params.extend([&froms as Param, &tos]);
    let sql = format!(
        "SELECT b.i, count(*) FILTER (WHERE {PAGEVIEW}), count(DISTINCT visitor_id), count(*) FILTER (WHERE {CUSTOM})
         FROM unnest(${}::date[], ${}::date[]) WITH ORDINALITY AS b(first_day, last_day, i)
         JOIN events ON {conditions} AND {COUNTED} AND local_day BETWEEN b.first_day AND b.last_day
         GROUP BY b.i",
        n + 1,
        n + 2
    );
    let rows = client.query(&sql, &params).await?;
    let mut totals = vec![Totals::default(); ranges.len()];
    for row in rows {
        let i: i64 = row.get(0);
        totals[i as usize - 1] = Totals { pageviews: row.get(1), visitors: row.get(2), events: row.get(3) };
    }
    Ok(totals)
}

/// Visits of the segment's events per range (by the day they began).
pub async fn visits_per_range(
    client: &Client,
    segment: &Segment<'_>,
    ranges: &[DayRange],
    gap_minutes: i32,
) -> Result<Vec<VisitSums>, tokio_postgres::Error> {
    let (froms, tos) = bounds(ranges);
    let (conditions, mut params) = segment.conditions();
    let n = params.len();
    params.extend([&froms as Param, &tos]);
    let events = format!(
        "SELECT b.i AS bucket, visitor_id, at, kind
         FROM unnest(${}::date[], ${}::date[]) WITH ORDINALITY AS b(first_day, last_day, i)
         JOIN events ON {conditions} AND {COUNTED} AND local_day BETWEEN b.first_day AND b.last_day",
        n + 1,
        n + 2
    );
    let mut visits = vec![VisitSums::default(); ranges.len()];
    for (bucket, sums) in visit_sums(client, &events, params, gap_minutes, "bucket").await? {
        let i: i64 = bucket.parse().unwrap_or_default();
        if let Some(slot) = visits.get_mut(i as usize - 1) {
            *slot = sums;
        }
    }
    Ok(visits)
}

/// Pageviews, visitors and events per local day and hour of `range`.
pub async fn totals_per_hour(
    client: &Client,
    segment: &Segment<'_>,
    range: DayRange,
    timezone: &str,
) -> Result<HashMap<HourKey, Totals>, tokio_postgres::Error> {
    let (conditions, mut params) = segment.conditions();
    let n = params.len();
    params.extend([&range.from as Param, &range.to, &timezone]);
    let sql = format!(
        "SELECT local_day, extract(hour FROM at AT TIME ZONE ${})::int2, count(*) FILTER (WHERE {PAGEVIEW}),
                count(DISTINCT visitor_id), count(*) FILTER (WHERE {CUSTOM})
         FROM events WHERE {conditions} AND {COUNTED} AND local_day BETWEEN ${} AND ${}
         GROUP BY 1, 2",
        n + 3,
        n + 1,
        n + 2
    );
    let rows = client.query(&sql, &params).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let totals = Totals { pageviews: r.get(2), visitors: r.get(3), events: r.get(4) };
            ((r.get(0), r.get(1)), totals)
        })
        .collect())
}

/// Visits of the segment's events per local day and hour they began.
pub async fn visits_per_hour(
    client: &Client,
    segment: &Segment<'_>,
    range: DayRange,
    timezone: &str,
    gap_minutes: i32,
) -> Result<HashMap<HourKey, VisitSums>, tokio_postgres::Error> {
    let (conditions, mut params) = segment.conditions();
    let n = params.len();
    params.extend([&range.from as Param, &range.to, &timezone]);
    let events = format!(
        "SELECT 0 AS bucket, visitor_id, at, kind FROM events
         WHERE {conditions} AND {COUNTED} AND local_day BETWEEN ${} AND ${}",
        n + 1,
        n + 2
    );
    // The local day and hour of the visit's first event.
    let began = format!("to_char(min(at) AT TIME ZONE ${}, 'YYYY-MM-DD HH24')", n + 3);
    let mut visits = HashMap::new();
    for (hour, sums) in visit_sums(client, &events, params, gap_minutes, &began).await? {
        let Some((day, hour)) = hour.split_once(' ') else { continue };
        if let (Ok(day), Ok(hour)) = (NaiveDate::parse_from_str(day, "%Y-%m-%d"), hour.parse::<i16>()) {
            visits.insert((day, hour), sums);
        }
    }
    Ok(visits)
}

/// Visits of `events` (`bucket, visitor_id, at, kind`), each a visitor's
/// run of events without a gap of more than `gap_minutes`, summed per
/// `group` (an expression over the visit's events, as text).
async fn visit_sums(
    client: &Client,
    events: &str,
    mut params: Vec<Param<'_>>,
    gap_minutes: i32,
    group: &str,
) -> Result<Vec<(String, VisitSums)>, tokio_postgres::Error> {
    params.push(&gap_minutes);
    let gap = params.len();
    let sql = format!(
        "WITH e AS ({events}),
         starts AS (
             SELECT bucket, visitor_id, at, kind,
                    CASE WHEN lag(at) OVER w IS NULL OR at - lag(at) OVER w > make_interval(mins => ${gap})
                         THEN 1 ELSE 0 END AS starts
             FROM e WINDOW w AS (PARTITION BY bucket, visitor_id ORDER BY at)),
         numbered AS (
             SELECT bucket, visitor_id, at, kind,
                    sum(starts) OVER (PARTITION BY bucket, visitor_id ORDER BY at ROWS UNBOUNDED PRECEDING) AS visit
             FROM starts),
         visits AS (
             SELECT ({group})::text AS grp, count(*) FILTER (WHERE {PAGEVIEW}) AS views,
                    (extract(epoch FROM max(at) - min(at)) * 1000)::int8 AS ms
             FROM numbered GROUP BY bucket, visitor_id, visit)
         SELECT grp, count(*), count(*) FILTER (WHERE views <= 1), sum(ms)::int8, sum(views)::int8
         FROM visits GROUP BY grp"
    );
    let rows = client.query(&sql, &params).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let sums = VisitSums { visits: r.get(1), bounces: r.get(2), duration_ms: r.get(3), pageviews: r.get(4) };
            (r.get(0), sums)
        })
        .collect())
}

/// Pageviews, visitors and events per source.
pub async fn by_source(
    client: &Client,
    segment: &Segment<'_>,
    range: DayRange,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    top(client, segment, "source", range, i64::MAX, None, false).await
}

/// The top values of an `events` column (a dimension, named as the column),
/// by pageviews (by events when `by_events`); with `only`, just those.
pub async fn top(
    client: &Client,
    segment: &Segment<'_>,
    column: &'static str,
    range: DayRange,
    limit: i64,
    only: Option<&[String]>,
    by_events: bool,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let (conditions, mut params) = segment.conditions();
    let n = params.len();
    params.extend([&range.from as Param, &range.to, &limit, &only]);
    let (first, second) = if by_events { (4, 2) } else { (2, 4) };
    let sql = format!(
        "SELECT {column}, count(*) FILTER (WHERE {PAGEVIEW}), count(DISTINCT visitor_id),
                count(*) FILTER (WHERE {CUSTOM})
         FROM events
         WHERE {conditions} AND {COUNTED} AND local_day BETWEEN ${} AND ${} AND {column} <> ''
           AND (${}::text[] IS NULL OR {column} = ANY(${}))
         GROUP BY 1 ORDER BY {first} DESC, {second} DESC, 1 LIMIT ${}",
        n + 1,
        n + 2,
        n + 4,
        n + 4,
        n + 3
    );
    let rows = client.query(&sql, &params).await?;
    Ok(rows
        .iter()
        .map(|r| Row { value: r.get(0), pageviews: r.get(1), visitors: r.get(2), events: r.get(3), ..Row::default() })
        .filter(|r| r.pageviews + r.events > 0)
        .collect())
}

/// Pageviews, events and visitors per value of the custom property `key`,
/// most used first; with `only`, just those values.
pub async fn property_values(
    client: &Client,
    segment: &Segment<'_>,
    range: DayRange,
    key: &str,
    limit: i64,
    only: Option<&[String]>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let (conditions, mut params) = segment.conditions();
    let n = params.len();
    params.extend([&range.from as Param, &range.to, &key, &limit, &only]);
    let (key_at, only_at) = (n + 3, n + 5);
    let sql = format!(
        "SELECT props->>${key_at}, count(*) FILTER (WHERE {PAGEVIEW}), count(*) FILTER (WHERE {CUSTOM}),
                count(DISTINCT visitor_id)
         FROM events
         WHERE {conditions} AND {COUNTED} AND local_day BETWEEN ${} AND ${} AND props ? ${key_at}
           AND (${only_at}::text[] IS NULL OR props->>${key_at} = ANY(${only_at}))
         GROUP BY 1 ORDER BY 2 + 3 DESC, 4 DESC, 1 LIMIT ${}",
        n + 1,
        n + 2,
        n + 4
    );
    let rows = client.query(&sql, &params).await?;
    Ok(rows
        .iter()
        .map(|r| Row { value: r.get(0), pageviews: r.get(1), events: r.get(2), visitors: r.get(3), ..Row::default() })
        .collect())
}

/// A custom property key seen in the range.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Property {
    pub key: String,
    /// Pageviews and custom events that carried it, and their visitors.
    pub pageviews: i64,
    pub events: i64,
    pub visitors: i64,
}

/// The custom property keys of the range, most used first.
pub async fn properties(
    client: &Client,
    segment: &Segment<'_>,
    range: DayRange,
    limit: i64,
) -> Result<Vec<Property>, tokio_postgres::Error> {
    let (conditions, mut params) = segment.conditions();
    let n = params.len();
    params.extend([&range.from as Param, &range.to, &limit]);
    let sql = format!(
        "SELECT key, count(*) FILTER (WHERE {PAGEVIEW}), count(*) FILTER (WHERE {CUSTOM}), count(DISTINCT visitor_id)
         FROM events, jsonb_object_keys(props) AS key
         WHERE {conditions} AND {COUNTED} AND local_day BETWEEN ${} AND ${} AND props IS NOT NULL
         GROUP BY key ORDER BY 2 + 3 DESC, 4 DESC, key LIMIT ${}",
        n + 1,
        n + 2,
        n + 3
    );
    let rows = client.query(&sql, &params).await?;
    Ok(rows
        .iter()
        .map(|r| Property { key: r.get(0), pageviews: r.get(1), events: r.get(2), visitors: r.get(3) })
        .collect())
}

/// One goal's figures over a range.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GoalFigures {
    /// The event name, or the page (a prefix when it ends in `*`).
    pub goal: String,
    /// `event` or `page`.
    pub kind: String,
    /// Visitors who reached it at least once.
    pub visitors: i64,
    /// Times it was reached.
    pub conversions: i64,
    /// Those visitors as a percentage of the range's visitors (two decimals).
    pub conversion_rate: f64,
}

/// Every goal of the site with its figures over the range, most converting
/// first, and the range's visitors they are a share of.
pub async fn goals(
    client: &Client,
    segment: &Segment<'_>,
    range: DayRange,
) -> Result<(Vec<GoalFigures>, i64), tokio_postgres::Error> {
    let (conditions, mut params) = segment.conditions();
    let n = params.len();
    params.extend([&range.from as Param, &range.to]);
    let scope = format!("{conditions} AND {COUNTED} AND local_day BETWEEN ${} AND ${}", n + 1, n + 2);
    let total: i64 = client
        .query_one(&format!("SELECT count(DISTINCT visitor_id) FROM events WHERE {scope}"), &params)
        .await?
        .get(0);
    // A page goal ending in `*` is a prefix: starts_with, so no character of
    // the path means anything to a pattern.
    let sql = format!(
        "WITH e AS (SELECT visitor_id, kind, page, event FROM events WHERE {scope})
         SELECT g.target, g.kind, count(DISTINCT e.visitor_id), count(e.visitor_id)
         FROM goals g LEFT JOIN e ON
              (g.kind = 'event' AND e.{CUSTOM} AND e.event = g.target)
           OR (g.kind = 'page' AND e.{PAGEVIEW} AND CASE WHEN right(g.target, 1) = '*'
                   THEN starts_with(e.page, left(g.target, -1)) ELSE e.page = g.target END)
         WHERE g.site_id = $1
         GROUP BY g.id, g.target, g.kind ORDER BY 3 DESC, 4 DESC, g.kind, g.target"
    );
    let rows = client.query(&sql, &params).await?;
    let goals = rows
        .iter()
        .map(|r| {
            let visitors: i64 = r.get(2);
            GoalFigures {
                goal: r.get(0),
                kind: r.get(1),
                visitors,
                conversions: r.get(3),
                conversion_rate: rate(visitors, total),
            }
        })
        .collect();
    Ok((goals, total))
}

/// Speed rows as [`crate::stats::speed`] gives them (site-wide, and per page
/// for the `pages` pages with the most timed events), from the events'
/// own measurements put into the same histogram buckets.
pub async fn speed(
    client: &Client,
    segment: &Segment<'_>,
    range: DayRange,
    pages: i64,
) -> Result<Vec<SpeedRow>, tokio_postgres::Error> {
    let (conditions, mut params) = segment.conditions();
    let n = params.len();
    params.extend([&range.from as Param, &range.to, &pages]);
    let metrics: Vec<String> =
        analytics_events::speed::METRICS.iter().map(|m| format!("('{m}', {m})")).collect::<Vec<_>>();
    let sql = format!(
        "WITH m AS (
             SELECT page, metric, value FROM events,
                    LATERAL (VALUES {}) AS v(metric, value)
             WHERE {conditions} AND local_day BETWEEN ${} AND ${} AND value IS NOT NULL),
         top_pages AS (SELECT page FROM m GROUP BY page ORDER BY count(*) DESC, page LIMIT ${}),
         b AS (SELECT page, metric, value, floor(ln(value + 1.0) / ln(1.1))::int AS bucket FROM m)
         SELECT NULL::text, metric, bucket, count(*), sum(value)::int8 FROM b GROUP BY metric, bucket
         UNION ALL
         SELECT page, metric, bucket, count(*), sum(value)::int8 FROM b
         WHERE page IN (SELECT page FROM top_pages) GROUP BY page, metric, bucket",
        metrics.join(", "),
        n + 1,
        n + 2,
        n + 3
    );
    let mut rows: HashMap<(Option<String>, String), SpeedRow> = HashMap::new();
    for row in client.query(&sql, &params).await? {
        let (path, metric): (Option<String>, String) = (row.get(0), row.get(1));
        let (bucket, count, sum): (i32, i64, i64) = (row.get(2), row.get(3), row.get(4));
        let entry = rows.entry((path.clone(), metric.clone())).or_insert_with(|| SpeedRow {
            path,
            metric,
            count: 0,
            sum_ms: 0,
            histogram: Vec::new(),
        });
        let bucket = bucket.max(0) as usize;
        if entry.histogram.len() <= bucket {
            entry.histogram.resize(bucket + 1, 0);
        }
        entry.histogram[bucket] += count;
        entry.count += count;
        entry.sum_ms += sum;
    }
    Ok(rows.into_values().collect())
}

/// Distinct visitors of the segment with an event in the last `seconds`.
pub async fn live_visitors(client: &Client, segment: &Segment<'_>, seconds: i64) -> Result<i64, tokio_postgres::Error> {
    let (conditions, mut params) = segment.conditions();
    let n = params.len();
    params.push(&seconds);
    let sql = format!(
        "SELECT count(DISTINCT visitor_id) FROM events
         WHERE {conditions} AND {COUNTED} AND local_day >= (now() - interval '2 days')::date
           AND at > now() - make_interval(secs => ${}::int8)",
        n + 1
    );
    Ok(client.query_one(&sql, &params).await?.get(0))
}

fn bounds(ranges: &[DayRange]) -> (Vec<NaiveDate>, Vec<NaiveDate>) {
    (ranges.iter().map(|r| r.from).collect(), ranges.iter().map(|r| r.to).collect())
}

/// `part` as a percentage of `whole`, to two decimals (0 of nothing).
pub(crate) fn rate(part: i64, whole: i64) -> f64 {
    if whole == 0 { 0.0 } else { (part as f64 * 10_000.0 / whole as f64).round() / 100.0 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_are_percentages_to_two_decimals() {
        assert_eq!(super::rate(1, 3), 33.33);
        assert_eq!(super::rate(2, 2), 100.0);
        assert_eq!(super::rate(0, 0), 0.0);
    }
}
