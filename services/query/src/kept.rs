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
pub(crate) const COUNTED: &str = "kind < 2";

/// Sets the transaction `snapshot` for statements over kept events: no JIT
/// compilation. A statement over a month of their daily partitions passes
/// Postgres' cost threshold for it, and compiling its 185 expressions took
/// 250 ms of a 500 ms answer; the rollups' statements keep the server's
/// setting.
pub(crate) async fn without_jit(snapshot: &tokio_postgres::Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    snapshot.batch_execute("SET LOCAL jit = off").await
}

/// The events of one site, source and segment.
pub struct Segment<'a> {
    pub site: Uuid,
    pub source: Option<&'static str>,
    pub filters: &'a Filters,
}

/// Most values a `~=` filter is narrowed to (see [`Segment::over_counted`]);
/// past it, the filter's events are not worth finding one value at a time.
const MAX_NARROWED_VALUES: usize = 1_000;

/// For a `~=` filter (`$5`) on dimension `$2` over the local days `$3` to
/// `$4`: whether the dimension's monthly rows go back to the month of the
/// range's first kept event (`false` also when the range has no event),
/// and up to `$7` distinct values of those rows from that month on that
/// contain the text, `(other)` (`$6`) among them if it is one of those
/// values (some day of those months folded values into it).
const CONTAINED_VALUES: &str = "
    WITH first AS (
        SELECT date_trunc('month', min(local_day)::timestamp)::date AS month
        FROM events WHERE site_id = $1 AND local_day BETWEEN $3 AND $4)
    SELECT coalesce((SELECT min(month) FROM monthly_dimension_counts WHERE site_id = $1 AND dimension = $2)
                    <= first.month, false),
           ARRAY(SELECT DISTINCT value FROM monthly_dimension_counts
                 WHERE site_id = $1 AND dimension = $2 AND month BETWEEN first.month AND $4
                   AND (strpos(lower(value), lower($5)) > 0 OR value = $6)
                 LIMIT $7)
    FROM first";

/// A segment over the local days `from` to `to`, with the token lists that
/// narrow its `~=` filters.
pub(crate) struct Scope<'a> {
    segment: &'a Segment<'a>,
    from: NaiveDate,
    to: NaiveDate,
    /// Per narrowed `~=` filter, the `<column>:<value>` tokens of every
    /// value that meets it: an event meets it only if it has one of them.
    narrowed: Vec<Vec<String>>,
}

impl<'s> Segment<'s> {
    /// The segment over `from` to `to`, for a statement over counted events
    /// (pageviews and custom events; `kind < 2`).
    ///
    /// A `~=` filter alone would read every event of the range (a chart of
    /// the pages that contain a word: 1.1 s over 3 million events). The
    /// values it can meet are few and known, by the dimension's monthly
    /// rows, so it is narrowed to them through the token index like an `==`
    /// filter. Only when those rows list every value the counted events of
    /// the range can have: none folded into `(other)` (the events keep the
    /// real value), the rows kept as far back as the events, at most
    /// [`MAX_NARROWED_VALUES`] values. Otherwise the filter reads the range.
    ///
    /// The rows and the events are written in one transaction, but read by
    /// two statements: `client` must be in a snapshot that both see
    /// (`analytics_store::snapshot`), or a value first counted between them would
    /// be missing from the list while its events are not.
    pub(crate) async fn over_counted(
        &'s self,
        client: &Client,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Scope<'s>, tokio_postgres::Error> {
        let mut narrowed = Vec::new();
        let limit = MAX_NARROWED_VALUES as i64 + 1;
        for (column, text) in self.filters.contains_on_dimensions() {
            let params: [Param; 7] = [&self.site, &column, &from, &to, &text, &analytics_events::FOLDED_VALUE, &limit];
            let row = client.query_one(CONTAINED_VALUES, &params).await?;
            let (complete, values): (bool, Vec<String>) = (row.get(0), row.get(1));
            let folded = values.iter().any(|v| v == analytics_events::FOLDED_VALUE);
            if complete && !folded && values.len() <= MAX_NARROWED_VALUES {
                narrowed.push(values.iter().map(|v| format!("{column}:{v}")).collect());
            }
        }
        Ok(Scope { segment: self, from, to, narrowed })
    }

    /// The segment over `from` to `to` for a statement that also reads the
    /// timings of pages counted earlier (`kind = 2`): their values need not
    /// be in any rollup row, so `~=` filters read the range.
    pub(crate) fn over_every_kind(&'s self, from: NaiveDate, to: NaiveDate) -> Scope<'s> {
        Scope { segment: self, from, to, narrowed: Vec::new() }
    }
}

impl Scope<'_> {
    /// Its conditions over `events` (`$1` the site, `$2` the source, `$3`
    /// and `$4` the days, then the filters'), with their parameters; a
    /// statement numbers its own parameters after them.
    pub(crate) fn conditions(&self) -> (String, Vec<Param<'_>>) {
        let segment = self.segment;
        let (filters, values) = segment.filters.sql(5);
        let mut params: Vec<Param<'_>> = vec![&segment.site, &segment.source, &self.from, &self.to];
        params.extend(values);
        let mut conditions =
            format!("site_id = $1 AND ($2::text IS NULL OR source = $2) AND local_day BETWEEN $3 AND $4{filters}");
        for tokens in &self.narrowed {
            params.push(tokens);
            conditions.push_str(&format!(" AND {} && ${}::text[]", crate::filters::TOKENS, params.len()));
        }
        (conditions, params)
    }
}

/// How one scan tells ranges apart: consecutive ranges (a chart's buckets)
/// by a bucket number per row, others (the overview's overlapping periods)
/// by a `FILTER` per range. Either way the events are read once.
enum Split {
    /// The first day of each bucket, in days since 2000-01-01, for `width_bucket`.
    Consecutive(Vec<i32>),
    Overlapping,
}

const EPOCH: &str = "DATE '2000-01-01'";

/// Most overlapping ranges answered with a FILTER each (the overview has 11).
const MAX_FILTERED_RANGES: usize = 16;

impl Split {
    fn of(ranges: &[DayRange]) -> Self {
        let consecutive = ranges.windows(2).all(|w| w[0].to.succ_opt() == Some(w[1].from));
        match consecutive {
            true => Self::Consecutive(ranges.iter().map(|r| days_since_epoch(r.from)).collect()),
            false => Self::Overlapping,
        }
    }
}

fn days_since_epoch(day: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN);
    (day - epoch).num_days() as i32
}

/// The first and last day of all `ranges`.
fn span(ranges: &[DayRange]) -> (NaiveDate, NaiveDate) {
    let first = ranges.iter().map(|r| r.from).min().unwrap_or(NaiveDate::MIN);
    let last = ranges.iter().map(|r| r.to).max().unwrap_or(NaiveDate::MIN);
    (first, last)
}

/// An aggregate of [`per_range`]: `expr` over the rows meeting `when`.
struct Agg {
    expr: &'static str,
    when: &'static str,
}

impl Agg {
    const fn new(expr: &'static str, when: &'static str) -> Self {
        Self { expr, when }
    }

    /// As a column, over the rows that also meet `also`; 0 of no rows.
    fn column(&self, also: &str) -> String {
        format!("coalesce({} FILTER (WHERE ({}) AND ({also})), 0)::int8", self.expr, self.when)
    }
}

/// Pageviews, visitors and events.
const TOTALS: [Agg; 3] =
    [Agg::new("count(*)", PAGEVIEW), Agg::new("count(DISTINCT visitor_id)", "true"), Agg::new("count(*)", CUSTOM)];

/// `aggregates` over the rows of `from` (a table or subquery with `params`)
/// whose `day` falls in each of `ranges`, in one scan, in the order of
/// `ranges`.
async fn per_range(
    client: &Client,
    from: &str,
    params: Vec<Param<'_>>,
    day: &str,
    aggregates: &[Agg],
    ranges: &[DayRange],
) -> Result<Vec<Vec<i64>>, tokio_postgres::Error> {
    let mut values = vec![vec![0; aggregates.len()]; ranges.len()];
    let split = Split::of(ranges);
    let bounds: Vec<[NaiveDate; 2]> = ranges.iter().map(|r| [r.from, r.to]).collect();
    let mut params: Vec<Param<'_>> = params;
    match &split {
        Split::Consecutive(starts) => {
            params.push(starts);
            let columns: Vec<String> = aggregates.iter().map(|a| a.column("true")).collect();
            let sql = format!(
                "SELECT width_bucket({day} - {EPOCH}, ${}::int4[]), {} FROM {from} GROUP BY 1",
                params.len(),
                columns.join(", ")
            );
            for row in client.query(&sql, &params).await? {
                let bucket: i32 = row.get(0);
                if let Some(slot) = (bucket as usize).checked_sub(1).and_then(|i| values.get_mut(i)) {
                    *slot = (0..aggregates.len()).map(|k| row.get(k + 1)).collect();
                }
            }
        }
        // Many ranges that are not consecutive (a long chart compared with a
        // year before, across 29 February): a FILTER each would make too
        // many columns, so each row is joined to the ranges it falls in.
        Split::Overlapping if ranges.len() > MAX_FILTERED_RANGES => {
            let (froms, tos): (Vec<NaiveDate>, Vec<NaiveDate>) = bounds.iter().map(|[f, t]| (*f, *t)).unzip();
            let columns: Vec<String> = aggregates.iter().map(|a| a.column("true")).collect();
            let sql = format!(
                "SELECT b.i, {} FROM unnest(${}::date[], ${}::date[]) WITH ORDINALITY AS b(first_day, last_day, i)
                 JOIN (SELECT * FROM {from}) AS x ON x.{day} BETWEEN b.first_day AND b.last_day GROUP BY b.i",
                columns.join(", "),
                params.len() + 1,
                params.len() + 2
            );
            let mut params = params;
            params.extend([&froms as Param, &tos]);
            for row in client.query(&sql, &params).await? {
                let i: i64 = row.get(0);
                if let Some(slot) = (i as usize).checked_sub(1).and_then(|i| values.get_mut(i)) {
                    *slot = (0..aggregates.len()).map(|k| row.get(k + 1)).collect();
                }
            }
        }
        Split::Overlapping => {
            let first = params.len() + 1;
            params.extend(bounds.iter().flatten().map(|d| d as Param));
            let columns: Vec<String> = (0..ranges.len())
                .flat_map(|i| {
                    let within = format!("{day} BETWEEN ${} AND ${}", first + 2 * i, first + 2 * i + 1);
                    aggregates.iter().map(move |a| a.column(&within))
                })
                .collect();
            let row = client.query_one(&format!("SELECT {} FROM {from}", columns.join(", ")), &params).await?;
            for (i, slot) in values.iter_mut().enumerate() {
                *slot = (0..aggregates.len()).map(|k| row.get(i * aggregates.len() + k)).collect();
            }
        }
    }
    Ok(values)
}

/// Pageviews, visitors and events per range, in the order of `ranges`.
pub async fn totals_per_range(
    client: &Client,
    segment: &Segment<'_>,
    ranges: &[DayRange],
) -> Result<Vec<Totals>, tokio_postgres::Error> {
    let (first, last) = span(ranges);
    let scope = segment.over_counted(client, first, last).await?;
    let (conditions, params) = scope.conditions();
    let from = format!("events WHERE {conditions} AND {COUNTED}");
    let values = per_range(client, &from, params, "local_day", &TOTALS, ranges).await?;
    Ok(values.iter().map(|v| Totals { pageviews: v[0], visitors: v[1], events: v[2] }).collect())
}

/// Visits, bounces (at most one pageview), their duration and pageviews.
const VISITS: [Agg; 4] = [
    Agg::new("count(*)", "true"),
    Agg::new("count(*)", "views <= 1"),
    Agg::new("sum(ms)", "true"),
    Agg::new("sum(views)", "true"),
];

/// The visits of the events meeting `conditions`, as a subquery of one row per visit:
/// `began` (its first local day), `first_at`, `views`, `ms`. A visit is a
/// visitor's run of events without a gap longer than `gap_minutes`.
fn visits_of<'a>(conditions: &str, params: &mut Vec<Param<'a>>, gap_minutes: &'a i32) -> String {
    params.push(gap_minutes);
    format!(
        "(WITH e AS (SELECT visitor_id, at, kind, local_day FROM events WHERE {conditions} AND {COUNTED}),
         starts AS (
             SELECT *, CASE WHEN lag(at) OVER w IS NULL OR at - lag(at) OVER w > make_interval(mins => ${})
                            THEN 1 ELSE 0 END AS starts
             FROM e WINDOW w AS (PARTITION BY visitor_id ORDER BY at)),
         numbered AS (
             SELECT *, sum(starts) OVER (PARTITION BY visitor_id ORDER BY at ROWS UNBOUNDED PRECEDING) AS visit
             FROM starts)
         SELECT min(local_day) AS began, min(at) AS first_at, count(*) FILTER (WHERE {PAGEVIEW}) AS views,
                (extract(epoch FROM max(at) - min(at)) * 1000)::int8 AS ms
         FROM numbered GROUP BY visitor_id, visit) AS visits",
        params.len()
    )
}

fn visit_sums(v: &[i64]) -> VisitSums {
    VisitSums { visits: v[0], bounces: v[1], duration_ms: v[2], pageviews: v[3] }
}

/// Visits of the segment's events per range (by the day they began).
pub async fn visits_per_range(
    client: &Client,
    segment: &Segment<'_>,
    ranges: &[DayRange],
    gap_minutes: i32,
) -> Result<Vec<VisitSums>, tokio_postgres::Error> {
    let (first, last) = span(ranges);
    let scope = segment.over_counted(client, first, last).await?;
    let (conditions, mut params) = scope.conditions();
    let from = visits_of(&conditions, &mut params, &gap_minutes);
    let values = per_range(client, &from, params, "began", &VISITS, ranges).await?;
    Ok(values.iter().map(|v| visit_sums(v)).collect())
}

/// Pageviews, visitors and events per local day and hour of `range`.
pub async fn totals_per_hour(
    client: &Client,
    segment: &Segment<'_>,
    range: DayRange,
    timezone: &str,
) -> Result<HashMap<HourKey, Totals>, tokio_postgres::Error> {
    let scope = segment.over_counted(client, range.from, range.to).await?;
    let (conditions, mut params) = scope.conditions();
    params.push(&timezone);
    let columns: Vec<String> = TOTALS.iter().map(|a| a.column("true")).collect();
    let sql = format!(
        "SELECT local_day, extract(hour FROM at AT TIME ZONE ${})::int2, {}
         FROM events WHERE {conditions} AND {COUNTED} GROUP BY 1, 2",
        params.len(),
        columns.join(", ")
    );
    Ok(crate::stats::hour_totals(&client.query(&sql, &params).await?))
}

/// Visits of the segment's events per local day and hour they began.
pub async fn visits_per_hour(
    client: &Client,
    segment: &Segment<'_>,
    range: DayRange,
    timezone: &str,
    gap_minutes: i32,
) -> Result<HashMap<HourKey, VisitSums>, tokio_postgres::Error> {
    let scope = segment.over_counted(client, range.from, range.to).await?;
    let (conditions, mut params) = scope.conditions();
    let from = visits_of(&conditions, &mut params, &gap_minutes);
    params.push(&timezone);
    let columns: Vec<String> = VISITS.iter().map(|a| a.column("true")).collect();
    let sql = format!(
        "SELECT (first_at AT TIME ZONE ${0})::date, extract(hour FROM first_at AT TIME ZONE ${0})::int2, {1}
         FROM {from} GROUP BY 1, 2",
        params.len(),
        columns.join(", ")
    );
    let rows = client.query(&sql, &params).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let values: Vec<i64> = (2..6).map(|k| r.get(k)).collect();
            ((r.get(0), r.get(1)), visit_sums(&values))
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
    let scope = segment.over_counted(client, range.from, range.to).await?;
    let (conditions, mut params) = scope.conditions();
    params.extend([&limit as Param, &only]);
    let (limit_at, only_at) = (params.len() - 1, params.len());
    let (first, second) = if by_events { (4, 2) } else { (2, 4) };
    let sql = format!(
        "SELECT {column}, count(*) FILTER (WHERE {PAGEVIEW}), count(DISTINCT visitor_id),
                count(*) FILTER (WHERE {CUSTOM})
         FROM events
         WHERE {conditions} AND {COUNTED} AND {column} <> ''
           AND (${only_at}::text[] IS NULL OR {column} = ANY(${only_at}))
         GROUP BY 1 ORDER BY {first} DESC, {second} DESC, 1 LIMIT ${limit_at}"
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
    let scope = segment.over_counted(client, range.from, range.to).await?;
    let (conditions, mut params) = scope.conditions();
    params.extend([&key as Param, &limit, &only]);
    let (key_at, limit_at, only_at) = (params.len() - 2, params.len() - 1, params.len());
    let sql = format!(
        "SELECT props->>${key_at}, count(*) FILTER (WHERE {PAGEVIEW}), count(*) FILTER (WHERE {CUSTOM}),
                count(DISTINCT visitor_id)
         FROM events
         WHERE {conditions} AND {COUNTED} AND props IS NOT NULL AND props ? ${key_at}
           AND (${only_at}::text[] IS NULL OR props->>${key_at} = ANY(${only_at}))
         GROUP BY 1 ORDER BY count(*) DESC, 4 DESC, 1 LIMIT ${limit_at}"
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
    let scope = segment.over_counted(client, range.from, range.to).await?;
    let (conditions, mut params) = scope.conditions();
    params.push(&limit);
    let sql = format!(
        "SELECT key, count(*) FILTER (WHERE {PAGEVIEW}), count(*) FILTER (WHERE {CUSTOM}), count(DISTINCT visitor_id)
         FROM events, jsonb_object_keys(props) AS key
         WHERE {conditions} AND {COUNTED} AND props IS NOT NULL
         GROUP BY key ORDER BY count(*) DESC, 4 DESC, key LIMIT ${}",
        params.len()
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
/// first, and the range's visitors they are a share of: one scan, each goal
/// two aggregates over the events that reach it.
pub async fn goals(
    client: &Client,
    segment: &Segment<'_>,
    defined: Vec<analytics_store::goals::Goal>,
    range: DayRange,
) -> Result<(Vec<GoalFigures>, i64), tokio_postgres::Error> {
    let scope = segment.over_counted(client, range.from, range.to).await?;
    let (conditions, mut params) = scope.conditions();
    let mut columns = vec!["count(DISTINCT visitor_id)".to_owned()];
    let targets: Vec<(Reach, &str)> = defined.iter().map(Reach::of).collect();
    for (reach, target) in &targets {
        params.push(target);
        let at = params.len();
        // A page prefix is matched with starts_with, so no character of the
        // path means anything to a pattern.
        let reached = match reach {
            Reach::Event => format!("{CUSTOM} AND event = ${at}"),
            Reach::PagesStartingWith => format!("{PAGEVIEW} AND starts_with(page, ${at})"),
            Reach::Page => format!("{PAGEVIEW} AND page = ${at}"),
        };
        columns.push(format!("count(DISTINCT visitor_id) FILTER (WHERE {reached})"));
        columns.push(format!("count(*) FILTER (WHERE {reached})"));
    }
    let sql = format!("SELECT {} FROM events WHERE {conditions} AND {COUNTED}", columns.join(", "));
    let row = client.query_one(&sql, &params).await?;
    let total: i64 = row.get(0);
    let figures = (0..defined.len()).map(|i| (row.get(1 + 2 * i), row.get(2 + 2 * i))).collect();
    Ok((GoalFigures::ranked(defined, figures, total), total))
}

/// What reaches a goal, with the event name, page or page prefix it names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Reach {
    Event,
    Page,
    /// A page goal ending in `*`: every page starting with what is before it.
    PagesStartingWith,
}

impl Reach {
    pub(crate) fn of(goal: &analytics_store::goals::Goal) -> (Reach, &str) {
        match (goal.kind.as_str(), goal.target.strip_suffix('*')) {
            ("event", _) => (Reach::Event, goal.target.as_str()),
            (_, Some(prefix)) => (Reach::PagesStartingWith, prefix),
            (_, None) => (Reach::Page, goal.target.as_str()),
        }
    }
}

impl GoalFigures {
    /// Each goal with its (visitors, conversions), as a share of `total`
    /// visitors, most converting first.
    pub(crate) fn ranked(
        defined: Vec<analytics_store::goals::Goal>,
        figures: Vec<(i64, i64)>,
        total: i64,
    ) -> Vec<GoalFigures> {
        let mut goals: Vec<GoalFigures> = defined
            .into_iter()
            .zip(figures)
            .map(|(goal, (visitors, conversions))| GoalFigures {
                goal: goal.target,
                kind: goal.kind,
                visitors,
                conversions,
                conversion_rate: rate(visitors, total),
            })
            .collect();
        goals.sort_by(|a, b| {
            (b.visitors, b.conversions)
                .cmp(&(a.visitors, a.conversions))
                .then_with(|| (&a.kind, &a.goal).cmp(&(&b.kind, &b.goal)))
        });
        goals
    }
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
    let scope = segment.over_every_kind(range.from, range.to);
    let (conditions, mut params) = scope.conditions();
    params.push(&pages);
    let metrics: Vec<String> =
        analytics_events::speed::METRICS.iter().map(|m| format!("('{m}', {m})")).collect::<Vec<_>>();
    let sql = format!(
        "WITH m AS (
             SELECT page, metric, value FROM events,
                    LATERAL (VALUES {}) AS v(metric, value)
             WHERE {conditions} AND value IS NOT NULL),
         top_pages AS (SELECT page FROM m GROUP BY page ORDER BY count(*) DESC, page LIMIT ${}),
         b AS (SELECT page, metric, value, floor(ln(value + 1.0) / ln(1.1))::int AS bucket FROM m)
         SELECT NULL::text, metric, bucket, count(*), sum(value)::int8 FROM b GROUP BY metric, bucket
         UNION ALL
         SELECT page, metric, bucket, count(*), sum(value)::int8 FROM b
         WHERE page IN (SELECT page FROM top_pages) GROUP BY page, metric, bucket",
        metrics.join(", "),
        params.len()
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
    // Local days run up to 14 h ahead of UTC's and 12 h behind.
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today - chrono::Days::new(1), today + chrono::Days::new(1));
    let scope = segment.over_counted(client, from, to).await?;
    let (conditions, mut params) = scope.conditions();
    params.push(&seconds);
    let sql = format!(
        "SELECT count(DISTINCT visitor_id) FROM events
         WHERE {conditions} AND {COUNTED} AND at > now() - make_interval(secs => ${}::int8)",
        params.len()
    );
    Ok(client.query_one(&sql, &params).await?.get(0))
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
