//! The SQL behind the dashboard. Visitors are always HLL unions over the
//! rows in range (never sums of smaller periods' uniques); counts are sums.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

use analytics_events::TrafficSource;
use chrono::NaiveDate;
use serde::Serialize;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::params::DayRange;

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Totals {
    pub pageviews: i64,
    pub visitors: i64,
    pub events: i64,
}

/// Totals for each of `ranges` in one scan of the daily totals (written in
/// the same transaction as everything else, so today is as fresh as the
/// aggregator's last commit).
pub async fn totals_per_range(
    client: &Client,
    site: Uuid,
    ranges: &[DayRange],
    source: Option<&str>,
) -> Result<Vec<Totals>, tokio_postgres::Error> {
    let aggregates = "coalesce(sum(t.pageviews), 0)::int8,
                      coalesce(round(hll_cardinality(hll_union_agg(t.visitors))), 0)::int8,
                      coalesce(sum(t.events), 0)::int8";
    let rows = per_range(client, site, ranges, source, "daily_totals", aggregates).await?;
    Ok(rows.iter().map(|r| Totals { pageviews: r.get(1), visitors: r.get(2), events: r.get(3) }).collect())
}

/// `aggregates` (over rows `t` of `table`) for each of `ranges`, in one
/// query, in the order of `ranges`; column 0 is the range's position.
async fn per_range(
    client: &Client,
    site: Uuid,
    ranges: &[DayRange],
    source: Option<&str>,
    table: &str,
    aggregates: &str,
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let froms: Vec<NaiveDate> = ranges.iter().map(|r| r.from).collect();
    let tos: Vec<NaiveDate> = ranges.iter().map(|r| r.to).collect();
    let sql = format!(
        "SELECT b.i, {aggregates}
         FROM unnest($2::date[], $3::date[]) WITH ORDINALITY AS b(first_day, last_day, i)
         LEFT JOIN {table} t
           ON t.site_id = $1 AND t.local_day BETWEEN b.first_day AND b.last_day
          AND ($4::text IS NULL OR t.source = $4)
         GROUP BY b.i ORDER BY b.i"
    );
    client.query(&sql, &[&site, &froms, &tos, &source]).await
}

/// Sums of the visit rollups over a range.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct VisitSums {
    pub visits: i64,
    pub bounces: i64,
    pub duration_ms: i64,
    pub pageviews: i64,
}

/// Visit sums for each of `ranges` (visits belong to the local day they began).
pub async fn visits_per_range(
    client: &Client,
    site: Uuid,
    ranges: &[DayRange],
    source: Option<&str>,
) -> Result<Vec<VisitSums>, tokio_postgres::Error> {
    let aggregates = "coalesce(sum(t.visits), 0)::int8, coalesce(sum(t.bounces), 0)::int8,
                      coalesce(sum(t.duration_ms), 0)::int8, coalesce(sum(t.pageviews), 0)::int8";
    let rows = per_range(client, site, ranges, source, "daily_visits", aggregates).await?;
    Ok(rows
        .iter()
        .map(|r| VisitSums { visits: r.get(1), bounces: r.get(2), duration_ms: r.get(3), pageviews: r.get(4) })
        .collect())
}

/// The pages most visits began (`entry`) or ended (`exit`) on.
pub async fn visit_pages(
    client: &Client,
    site: Uuid,
    kind: &str,
    range: DayRange,
    source: Option<&str>,
    limit: i64,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT page, sum(visits)::int8 FROM daily_visit_pages
             WHERE site_id = $1 AND kind = $2 AND local_day BETWEEN $3 AND $4 AND ($5::text IS NULL OR source = $5)
             GROUP BY page HAVING sum(visits) > 0 ORDER BY 2 DESC, page LIMIT $6",
            &[&site, &kind, &range.from, &range.to, &source, &limit],
        )
        .await?;
    Ok(rows.iter().map(|r| Row { value: r.get(0), visits: Some(r.get(1)), ..Row::default() }).collect())
}

/// Distinct visitors with an event in the minutes of the last `seconds`
/// (the current minute included).
pub async fn live_visitors(client: &Client, site: Uuid, seconds: i64) -> Result<i64, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT coalesce(round(hll_cardinality(hll_union_agg(visitors))), 0)::int8 FROM live_visitors
             WHERE site_id = $1 AND minute > now() - make_interval(secs => $2::int8)",
            &[&site, &seconds],
        )
        .await?;
    Ok(row.get(0))
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Row {
    pub value: String,
    pub pageviews: i64,
    pub visitors: i64,
    pub events: i64,
    /// Only for `entry_page` and `exit_page`: visits that began or ended on
    /// the page (the other figures are then 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visits: Option<i64>,
    /// With `compare=previous_period`: this value's figures then, and the change.
    #[serde(flatten)]
    pub comparison: crate::api::Comparison,
}

impl Row {
    pub fn totals(&self) -> Totals {
        Totals { pageviews: self.pageviews, visitors: self.visitors, events: self.events }
    }
}

/// Every import of the site that counted a row, oldest first.
pub async fn imports(client: &Client, site: Uuid) -> Result<Vec<crate::api::ImportedRange>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT source, source_table, first_day, last_day, rows_read FROM imports
             WHERE site_id = $1 AND first_day IS NOT NULL ORDER BY first_day, source, source_table",
            &[&site],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| crate::api::ImportedRange {
            source: r.get(0),
            table: r.get(1),
            first_day: r.get(2),
            last_day: r.get(3),
            rows: r.get(4),
        })
        .collect())
}

/// Rows per source over `range`, from the daily totals.
pub async fn by_source(client: &Client, site: Uuid, range: DayRange) -> Result<Vec<Row>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT source, sum(pageviews)::int8, round(hll_cardinality(hll_union_agg(visitors)))::int8, sum(events)::int8
             FROM daily_totals WHERE site_id = $1 AND local_day BETWEEN $2 AND $3
             GROUP BY source ORDER BY 2 DESC, source",
            &[&site, &range.from, &range.to],
        )
        .await?;
    Ok(rows.iter().map(row).collect())
}

/// The top `limit` values of `dimension` over `range`, by pageviews (by
/// events for the `event` dimension). With `only`, just those values (a
/// comparison's previous period). Whole months come from the monthly rows,
/// whole sealed weeks from the weekly ones and the other days from the daily
/// ones (see [`dimension_split`]). In two steps: values are ranked in the
/// narrow counts tables (one row per value, a column per source; no
/// sketches), then the top values' sketches are read to count their
/// visitors. With a `spare` connection, the sketches of the values likeliest
/// to place (the highest month bounds) are read on it while the ranking runs
/// on `client`, and only those of any other value that places after.
#[allow(clippy::too_many_arguments)]
pub async fn top(
    client: &Client,
    spare: Option<&Client>,
    site: Uuid,
    dimension: &str,
    range: DayRange,
    today: NaiveDate,
    source: Option<&str>,
    limit: i64,
    only: Option<&[String]>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let split = dimension_split(client, site, range, today).await?;
    let rows = DimensionRows { client, site, dimension, split: &split, source };
    let by_events = dimension == "event";
    let (mut ranked, mut visitors) = match only {
        Some(values) => (rows.counts(values).await?, HashMap::new()),
        None => {
            let bounds = rank_bounds(&rows, range, by_events, limit).await?;
            match spare {
                Some(spare) => {
                    let likely: Vec<String> =
                        bounds.iter().take(usize::try_from(limit).unwrap_or(0)).map(|b| b.value.clone()).collect();
                    let beside = DimensionRows { client: spare, ..rows };
                    tokio::try_join!(rank(&rows, bounds, by_events, limit), beside.visitors(&likely))?
                }
                None => (rank(&rows, bounds, by_events, limit).await?, HashMap::new()),
            }
        }
    };
    ranked.retain(|c| c.pageviews + c.events > 0);
    ranked.sort_by(|a, b| a.order(b, by_events));
    ranked.truncate(usize::try_from(limit).unwrap_or(0));
    let unread: Vec<String> =
        ranked.iter().filter(|c| !visitors.contains_key(&c.value)).map(|c| c.value.clone()).collect();
    if !unread.is_empty() {
        visitors.extend(rows.visitors(&unread).await?);
    }
    Ok(ranked
        .into_iter()
        .map(|c| Row {
            visitors: visitors.get(&c.value).copied().unwrap_or_default(),
            value: c.value,
            pageviews: c.pageviews,
            events: c.events,
            ..Row::default()
        })
        .collect())
}

/// How the dimension rows of `range` are read: whole months, the site's
/// sealed weeks (complete week rows) among the other days, and the days left.
async fn dimension_split(
    client: &Client,
    site: Uuid,
    range: DayRange,
    today: NaiveDate,
) -> Result<crate::params::MonthSplit, tokio_postgres::Error> {
    let first = range.from.checked_sub_days(chrono::Days::new(6)).unwrap_or(range.from);
    let sealed: Vec<NaiveDate> = client
        .query(
            "SELECT week FROM sealed_weeks WHERE site_id = $1 AND week BETWEEN $2 AND $3 ORDER BY week",
            &[&site, &first, &range.to],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(range.split_months(today).with_weeks(&sealed))
}

/// Every goal of the site (`analytics-ctl goal add`) over `range` from the
/// rollups, for a request without filters, and the range's visitors: an
/// event goal's conversions are the event's count, a page goal's the page's
/// pageviews (or, for a prefix, those of its own rows: the sum of its pages',
/// see migration V16), and its visitors the union of their sketches, as every
/// other visitor figure of an unfiltered dashboard is. The kept events answer
/// segments (`kept::goals`); the rollups answer the rest in milliseconds,
/// however far back the range.
pub async fn goals(
    client: &Client,
    site: Uuid,
    defined: Vec<analytics_store::goals::Goal>,
    range: DayRange,
    today: NaiveDate,
    source: Option<&str>,
) -> Result<(Vec<crate::kept::GoalFigures>, i64), tokio_postgres::Error> {
    use crate::kept::Reach;
    let total = totals_per_range(client, site, &[range], source).await?.first().map_or(0, |t| t.visitors);
    let split = dimension_split(client, site, range, today).await?;
    let mut figures = Vec::with_capacity(defined.len());
    for goal in &defined {
        let (reach, target) = Reach::of(goal);
        let (dimension, value) = match reach {
            Reach::Event => ("event", target),
            Reach::Page => ("page", target),
            Reach::PagesStartingWith => (analytics_store::goals::DIMENSION, goal.target.as_str()),
        };
        let rows = DimensionRows { client, site, dimension, split: &split, source };
        let only = [value.to_owned()];
        let select = "coalesce(sum(pageviews), 0)::int8, coalesce(sum(events), 0)::int8,
                      coalesce(round(hll_cardinality(hll_union_agg(visitors))), 0)::int8";
        let row = rows.query(Tables::Sketches, select, "", Some(&only)).await?;
        let (pageviews, events, visitors) = row.first().map_or((0, 0, 0), |r| (r.get(0), r.get(1), r.get(2)));
        let conversions = if reach == Reach::Event { events } else { pageviews };
        // A value counted only from other sources has a row, and no visitor.
        figures.push((if conversions > 0 { visitors } else { 0 }, conversions));
    }
    Ok((crate::kept::GoalFigures::ranked(defined, figures, total), total))
}

/// A value's counts over a range (or, from month rows, a bound on them).
#[derive(Debug, Clone)]
struct ValueCounts {
    value: String,
    pageviews: i64,
    events: i64,
}

impl ValueCounts {
    fn of(row: &tokio_postgres::Row) -> Self {
        Self { value: row.get(0), pageviews: row.get(1), events: row.get(2) }
    }

    /// What values are ranked by: pageviews, or events for events.
    fn primary(&self, by_events: bool) -> i64 {
        if by_events { self.events } else { self.pageviews }
    }

    /// Most first; ties by the other measure, then by value.
    fn order(&self, other: &Self, by_events: bool) -> std::cmp::Ordering {
        let key = |c: &Self| (c.primary(by_events), if by_events { c.pageviews } else { c.events });
        key(other).cmp(&key(self)).then_with(|| self.value.cmp(&other.value))
    }
}

/// How many values beyond `limit` get their exact counts in the first round.
const RANK_SLACK: usize = 20;
/// Past this many values that may still place, one ranking of every value is cheaper.
const RANK_ROUND_TWO_MAX: usize = 500;

/// The month bounds [`rank`] starts from, best first: only the highest can
/// matter, those of the first round and at most [`RANK_ROUND_TWO_MAX`] more
/// (past that, every value is ranked anyway).
async fn rank_bounds(
    rows: &DimensionRows<'_>,
    range: DayRange,
    by_events: bool,
    limit: i64,
) -> Result<Vec<ValueCounts>, tokio_postgres::Error> {
    let needed = usize::try_from(limit).unwrap_or(0) + RANK_SLACK + RANK_ROUND_TWO_MAX + 1;
    rows.month_bounds(range, by_events, needed).await
}

/// The exact top `limit` values of a range, reading every value's daily rows
/// only when it has to. A month's row holds at least what any of its days
/// hold, so the rows of the months the range touches bound every value from
/// above (at most 2 rows per value for 30 days, 13 for a year, whatever the
/// day of the month). The values with the highest bounds get exact counts;
/// the `limit`-th of those is a threshold no value with a lower bound can
/// reach, and the few others at or above it get exact counts too. When the
/// counts are too flat for that to prune much, every value is ranked as a
/// whole.
async fn rank(
    rows: &DimensionRows<'_>,
    bounds: Vec<ValueCounts>,
    by_events: bool,
    limit: i64,
) -> Result<Vec<ValueCounts>, tokio_postgres::Error> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let first: Vec<String> = bounds.iter().take(limit + RANK_SLACK).map(|b| b.value.clone()).collect();
    let mut exact = rows.counts(&first).await?;
    exact.sort_by(|a, b| a.order(b, by_events));
    let threshold = match exact.get(limit.saturating_sub(1)) {
        Some(last) if limit > 0 && exact.len() >= limit => last.primary(by_events),
        // Fewer values than asked for: any other value may place.
        _ => 0,
    };
    let rest: Vec<String> = bounds
        .iter()
        .skip(first.len())
        .take_while(|b| b.primary(by_events) >= threshold)
        .map(|b| b.value.clone())
        .collect();
    // `bounds` was cut after `needed` values: when the last of them may
    // still place, so may values past the cut, and `rest` is over the cap.
    if rest.len() > RANK_ROUND_TWO_MAX {
        return rows.all_counts().await;
    }
    if !rest.is_empty() {
        exact.extend(rows.counts(&rest).await?);
    }
    Ok(exact)
}

/// The two copies of the dimension rows (migration V5).
#[derive(Clone, Copy)]
enum Tables {
    /// `*_dimension_counts`: `pageviews` and `events` of the source asked
    /// for (or of all), one row per value.
    Counts,
    /// `*_dimensions`: `pageviews`, `events` and `visitors` sketches, a row per value and source.
    Sketches,
}

/// One dimension's rows over a range split into months and days.
struct DimensionRows<'a> {
    client: &'a Client,
    site: Uuid,
    dimension: &'a str,
    split: &'a crate::params::MonthSplit,
    source: Option<&'a str>,
}

impl DimensionRows<'_> {
    /// Exact pageviews and events of `values` over the range.
    async fn counts(&self, values: &[String]) -> Result<Vec<ValueCounts>, tokio_postgres::Error> {
        let select = "value, sum(pageviews)::int8, sum(events)::int8";
        let rows = self.query(Tables::Counts, select, "GROUP BY value", Some(values)).await?;
        Ok(rows.iter().map(ValueCounts::of).collect())
    }

    /// The visitors of each of `values` over the range (a union of sketches).
    async fn visitors(&self, values: &[String]) -> Result<HashMap<String, i64>, tokio_postgres::Error> {
        let select = "value, round(hll_cardinality(hll_union_agg(visitors)))::int8";
        let rows = self.query(Tables::Sketches, select, "GROUP BY value", Some(values)).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Exact pageviews and events of every value seen over the range.
    async fn all_counts(&self) -> Result<Vec<ValueCounts>, tokio_postgres::Error> {
        let select = "value, sum(pageviews)::int8, sum(events)::int8";
        // Zero when the value was only seen from other sources than the one asked for.
        let tail = "GROUP BY value HAVING sum(pageviews) + sum(events) > 0";
        let rows = self.query(Tables::Counts, select, tail, None).await?;
        Ok(rows.iter().map(ValueCounts::of).collect())
    }

    /// The `keep` values with the highest counts over the whole months
    /// `range` touches (each value's counts there are at least its counts
    /// over the range), in [`ValueCounts::order`] (values compared byte by
    /// byte, as Rust compares strings: `COLLATE "C"`). Ranked and cut in
    /// Postgres: a busy site has thousands of values, and only the first
    /// few hundred bounds are ever used.
    async fn month_bounds(
        &self,
        range: DayRange,
        by_events: bool,
        keep: usize,
    ) -> Result<Vec<ValueCounts>, tokio_postgres::Error> {
        let months: Vec<NaiveDate> = range.months_touched();
        let order = if by_events { "3 DESC, 2 DESC" } else { "2 DESC, 3 DESC" };
        let sql = format!(
            "SELECT value, sum(pageviews)::int8, sum(events)::int8 FROM (
               SELECT {} FROM monthly_dimension_counts WHERE site_id = $1 AND dimension = $2 AND month = ANY($3::date[])
             ) AS r GROUP BY value HAVING sum(pageviews) + sum(events) > 0
             ORDER BY {order}, value COLLATE \"C\" LIMIT $4",
            count_columns(self.source)
        );
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let rows = self.client.query(&sql, &[&self.site, &self.dimension, &months, &keep]).await?;
        Ok(rows.iter().map(ValueCounts::of).collect())
    }

    /// `SELECT {select} FROM (the monthly, weekly and daily rows of tables)
    /// {tail}`, of only the values in `only` (all when `None`).
    async fn query(
        &self,
        tables: Tables,
        select: &str,
        tail: &str,
        only: Option<&[String]>,
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        // Every source by name rather than none: with each column of the key
        // pinned, each (month, source, value) is one index descent, where an
        // open source would scan all of a month's rows once per value asked.
        let sources: Vec<&str> = match self.source {
            Some(source) => vec![source],
            None => TrafficSource::ALL.iter().map(|s| s.as_str()).collect(),
        };
        let mut params: Vec<Param> = vec![&self.site, &self.dimension, &only];
        let filters = "site_id = $1 AND dimension = $2 AND ($3::text[] IS NULL OR value = ANY($3))";
        let (columns, filters, tables) = match tables {
            Tables::Counts => (count_columns(self.source), filters.to_owned(), PeriodTables::DIMENSION_COUNTS),
            Tables::Sketches => {
                params.push(&sources);
                let filters = format!("{filters} AND source = ANY($4::text[])");
                ("value, pageviews, events, visitors".to_owned(), filters, PeriodTables::DIMENSIONS)
            }
        };
        let rows = months_and_days(self.split, tables, &columns, &filters, &mut params);
        self.client.query(&format!("SELECT {select} FROM ({rows}) AS r {tail}"), &params).await
    }
}

type Param<'p> = &'p (dyn tokio_postgres::types::ToSql + Sync);

/// The tables of one kind of rows per period.
struct PeriodTables {
    monthly: &'static str,
    /// `None` where there are no week rows: the split must then have no weeks.
    weekly: Option<&'static str>,
    daily: &'static str,
}

impl PeriodTables {
    const DIMENSION_COUNTS: Self = Self {
        monthly: "monthly_dimension_counts",
        weekly: Some("weekly_dimension_counts"),
        daily: "daily_dimension_counts",
    };
    const DIMENSIONS: Self =
        Self { monthly: "monthly_dimensions", weekly: Some("weekly_dimensions"), daily: "daily_dimensions" };
    const SPEED: Self = Self { monthly: "monthly_speed", weekly: None, daily: "daily_speed" };
}

/// `SELECT {columns}` from the monthly table's whole months of `split`, the
/// weekly table's whole weeks and the daily table's other days, all `WHERE
/// {filters}`, as one UNION ALL; the months, weeks and days are added to
/// `params`.
///
/// Each listed day is a branch of its own (`local_day = $n`): Postgres then
/// reads only that day's partition, with every column of its key pinned. With
/// the whole list in one `local_day = ANY(...)`, every partition was searched
/// for every listed day (28 days cost 28 times 28 lookups of each value and
/// source), or scanned whole when that looked cheaper.
fn months_and_days<'a>(
    split: &'a crate::params::MonthSplit,
    tables: PeriodTables,
    columns: &str,
    filters: &str,
    params: &mut Vec<Param<'a>>,
) -> String {
    let PeriodTables { monthly, weekly, daily } = tables;
    params.push(&split.months);
    let mut sql = format!("SELECT {columns} FROM {monthly} WHERE {filters} AND month = ANY(${}::date[])", params.len());
    debug_assert!(weekly.is_some() || split.weeks.is_empty(), "weeks to read from {monthly}'s kind without week rows");
    if let (Some(weekly), false) = (weekly, split.weeks.is_empty()) {
        params.push(&split.weeks);
        sql.push_str(&format!(
            " UNION ALL SELECT {columns} FROM {weekly} WHERE {filters} AND week = ANY(${}::date[])",
            params.len()
        ));
    }
    for day in &split.days {
        params.push(day);
        sql.push_str(&format!(
            " UNION ALL SELECT {columns} FROM {daily} WHERE {filters} AND local_day = ${}::date",
            params.len()
        ));
    }
    sql
}

/// The counts tables' columns for `source` (all sources added up when `None`),
/// as `value, pageviews, events`. Column names come from
/// [`TrafficSource`] only; a source not in it (which the
/// parameter check rules out) selects nothing.
fn count_columns(source: Option<&str>) -> String {
    let sum = |measure: &str| match source {
        None => TrafficSource::ALL.map(|s| format!("{measure}_{}", s.as_str())).join(" + "),
        Some(source) => match TrafficSource::parse(source) {
            Some(known) => format!("{measure}_{}", known.as_str()),
            None => "0".to_owned(),
        },
    };
    format!("value, {} AS pageviews, {} AS events", sum("pageviews"), sum("events"))
}

fn row(r: &tokio_postgres::Row) -> Row {
    Row { value: r.get(0), pageviews: r.get(1), visitors: r.get(2), events: r.get(3), ..Row::default() }
}

/// The latest title of each of `paths`.
pub async fn titles(
    client: &Client,
    site: Uuid,
    paths: &[&str],
) -> Result<HashMap<String, String>, tokio_postgres::Error> {
    let rows = client
        .query("SELECT path, title FROM page_titles WHERE site_id = $1 AND path = ANY($2)", &[&site, &paths])
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Merged timing histograms per (page or `None` for the whole site, metric).
pub struct SpeedRow {
    pub path: Option<String>,
    pub metric: String,
    pub count: i64,
    pub sum_ms: i64,
    pub histogram: Vec<i64>,
}

impl SpeedRow {
    /// A row of (path, metric, count, sum_ms, histogram).
    fn of(row: &tokio_postgres::Row) -> Self {
        Self { path: row.get(0), metric: row.get(1), count: row.get(2), sum_ms: row.get(3), histogram: row.get(4) }
    }

    /// Adds `other`'s figures: histograms bucket by bucket, as
    /// `analytics_histogram_sum` does (the shorter one padded with zeros).
    fn merge(&mut self, other: &SpeedRow) {
        self.count += other.count;
        self.sum_ms += other.sum_ms;
        if self.histogram.len() < other.histogram.len() {
            self.histogram.resize(other.histogram.len(), 0);
        }
        self.histogram.iter_mut().zip(&other.histogram).for_each(|(total, n)| *total += n);
    }
}

/// Site-wide rows (path `None`) and per-page rows for the `pages` pages with
/// the most timed views. Per-page histograms of whole months come from the
/// monthly rows, the days around them from the daily ones.
pub async fn speed(
    client: &Client,
    site: Uuid,
    range: DayRange,
    today: NaiveDate,
    source: Option<&str>,
    pages: i64,
) -> Result<Vec<SpeedRow>, tokio_postgres::Error> {
    // The site's figures from its own small table.
    let mut rows: Vec<SpeedRow> = client
        .query(
            "SELECT NULL::text, metric, sum(count)::int8, sum(sum_ms)::int8, analytics_histogram_sum(histogram)
             FROM daily_site_speed
             WHERE site_id = $1 AND local_day BETWEEN $2 AND $3 AND ($4::text IS NULL OR source = $4)
             GROUP BY metric",
            &[&site, &range.from, &range.to, &source],
        )
        .await?
        .iter()
        .map(SpeedRow::of)
        .collect();
    if pages > 0 {
        let split = range.split_months(today);
        let mut params: Vec<Param> = vec![&site, &source, &pages];
        let per_page = months_and_days(
            &split,
            PeriodTables::SPEED,
            "path, metric, count, sum_ms, histogram",
            "site_id = $1 AND ($2::text IS NULL OR source = $2)",
            &mut params,
        );
        // NOT MATERIALIZED: the ranking reads only paths and counts, and the
        // second pass only the top pages' rows; materialised, every row's
        // histogram was copied (and spilled to disk) before either. Their
        // histograms are added up here: the SQL aggregate costs tens of
        // microseconds a row, a loop in Rust nothing.
        let sql = format!(
            "WITH r AS NOT MATERIALIZED ({per_page}),
             top_pages AS (SELECT path FROM r GROUP BY path ORDER BY sum(count) DESC, path LIMIT $3)
             SELECT path, metric, count, sum_ms, histogram FROM r WHERE path IN (SELECT path FROM top_pages)"
        );
        let mut per_page: BTreeMap<(Option<String>, String), SpeedRow> = BTreeMap::new();
        for row in client.query(&sql, &params).await?.iter().map(SpeedRow::of) {
            match per_page.entry((row.path.clone(), row.metric.clone())) {
                Entry::Occupied(mut merged) => merged.get_mut().merge(&row),
                Entry::Vacant(first) => _ = first.insert(row),
            }
        }
        rows.extend(per_page.into_values());
    }
    Ok(rows)
}

/// One app version's release-health sums over a range.
#[derive(Debug, Clone, PartialEq)]
pub struct AppHealthRow {
    pub version: String,
    pub requests: i64,
    pub client_errors: i64,
    pub server_errors: i64,
    pub timed: i64,
    pub sum_ms: i64,
    pub histogram: Vec<i64>,
}

/// The `limit` app versions with the most requests over `range`.
pub async fn app_versions(
    client: &Client,
    site: Uuid,
    range: DayRange,
    limit: i64,
) -> Result<Vec<AppHealthRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT version, sum(requests)::int8, sum(client_errors)::int8, sum(server_errors)::int8,
                    sum(timed)::int8, sum(sum_ms)::int8, analytics_histogram_sum(histogram)
             FROM daily_app_versions WHERE site_id = $1 AND local_day BETWEEN $2 AND $3
             GROUP BY version ORDER BY 2 DESC, version LIMIT $4",
            &[&site, &range.from, &range.to, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AppHealthRow {
            version: r.get(0),
            requests: r.get(1),
            client_errors: r.get(2),
            server_errors: r.get(3),
            timed: r.get(4),
            sum_ms: r.get(5),
            histogram: r.get(6),
        })
        .collect())
}

/// A local day and hour.
pub type HourKey = (NaiveDate, i16);

/// Pageviews, visitors (unions of the hours' sketches over the sources) and
/// events per local hour of `range`, from the hourly rollups.
pub async fn totals_per_hour(
    client: &Client,
    site: Uuid,
    range: DayRange,
    source: Option<&str>,
) -> Result<HashMap<HourKey, Totals>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT local_day, local_hour, coalesce(sum(pageviews), 0)::int8,
                    coalesce(round(hll_cardinality(hll_union_agg(visitors))), 0)::int8, coalesce(sum(events), 0)::int8
             FROM hourly_totals WHERE site_id = $1 AND local_day BETWEEN $2 AND $3 AND ($4::text IS NULL OR source = $4)
             GROUP BY 1, 2",
            &[&site, &range.from, &range.to, &source],
        )
        .await?;
    Ok(hour_totals(&rows))
}

/// Rows of (local day, hour, pageviews, visitors, events) by their hour.
pub fn hour_totals(rows: &[tokio_postgres::Row]) -> HashMap<HourKey, Totals> {
    rows.iter()
        .map(|r| ((r.get(0), r.get(1)), Totals { pageviews: r.get(2), visitors: r.get(3), events: r.get(4) }))
        .collect()
}

/// Visit sums per local hour of `range`, each visit in the hour it began.
pub async fn visits_per_hour(
    client: &Client,
    site: Uuid,
    range: DayRange,
    source: Option<&str>,
) -> Result<HashMap<HourKey, VisitSums>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT local_day, local_hour, sum(visits)::int8, sum(bounces)::int8, sum(duration_ms)::int8, sum(pageviews)::int8
             FROM hourly_visits WHERE site_id = $1 AND local_day BETWEEN $2 AND $3 AND ($4::text IS NULL OR source = $4)
             GROUP BY 1, 2",
            &[&site, &range.from, &range.to, &source],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let sums = VisitSums { visits: r.get(2), bounces: r.get(3), duration_ms: r.get(4), pageviews: r.get(5) };
            ((r.get(0), r.get(1)), sums)
        })
        .collect())
}
