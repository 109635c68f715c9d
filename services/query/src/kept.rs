//! Answers from the kept events (table `events`, migration V12) rather than
//! the rollups: custom properties and goals. Visitors here are exact
//! distinct visitor ids, not sketches; the events go back
//! `raw_retention_days` (90 by default), so older days count nothing.

use tokio_postgres::Client;
use uuid::Uuid;

use crate::params::DayRange;
use crate::stats::Row;

/// The events of one site over one range (and source): the conditions every
/// statement here starts from, `$1` to `$4`.
pub struct Scope {
    pub site: Uuid,
    pub range: DayRange,
    pub source: Option<&'static str>,
}

const SCOPE: &str = "site_id = $1 AND local_day BETWEEN $2 AND $3 AND ($4::text IS NULL OR source = $4)";

/// Pageviews, events and visitors per value of the custom property `key`,
/// most used first; with `only`, just those values.
pub async fn property_values(
    client: &Client,
    scope: &Scope,
    key: &str,
    limit: i64,
    only: Option<&[String]>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT props->>$5, count(*) FILTER (WHERE is_pageview), count(*) FILTER (WHERE NOT is_pageview),
                        count(DISTINCT visitor_id)
                 FROM events WHERE {SCOPE} AND props ? $5 AND ($7::text[] IS NULL OR props->>$5 = ANY($7))
                 GROUP BY 1 ORDER BY 2 + 3 DESC, 4 DESC, 1 LIMIT $6"
            ),
            &[&scope.site, &scope.range.from, &scope.range.to, &scope.source, &key, &limit, &only],
        )
        .await?;
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
pub async fn properties(client: &Client, scope: &Scope, limit: i64) -> Result<Vec<Property>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT key, count(*) FILTER (WHERE is_pageview), count(*) FILTER (WHERE NOT is_pageview),
                        count(DISTINCT visitor_id)
                 FROM events, jsonb_object_keys(props) AS key
                 WHERE {SCOPE} AND props IS NOT NULL
                 GROUP BY key ORDER BY 2 + 3 DESC, 4 DESC, key LIMIT $5"
            ),
            &[&scope.site, &scope.range.from, &scope.range.to, &scope.source, &limit],
        )
        .await?;
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
pub async fn goals(client: &Client, scope: &Scope) -> Result<(Vec<GoalFigures>, i64), tokio_postgres::Error> {
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&scope.site, &scope.range.from, &scope.range.to, &scope.source];
    let total: i64 = client
        .query_one(&format!("SELECT count(DISTINCT visitor_id) FROM events WHERE {SCOPE}"), &params)
        .await?
        .get(0);
    // A page goal ending in `*` is a prefix: starts_with, so no character of
    // the path means anything to a pattern.
    let rows = client
        .query(
            &format!(
                "WITH e AS (SELECT visitor_id, is_pageview, page, event FROM events WHERE {SCOPE})
                 SELECT g.target, g.kind, count(DISTINCT e.visitor_id), count(e.visitor_id)
                 FROM goals g LEFT JOIN e ON
                      (g.kind = 'event' AND NOT e.is_pageview AND e.event = g.target)
                   OR (g.kind = 'page' AND e.is_pageview AND CASE WHEN right(g.target, 1) = '*'
                           THEN starts_with(e.page, left(g.target, -1)) ELSE e.page = g.target END)
                 WHERE g.site_id = $1
                 GROUP BY g.id, g.target, g.kind ORDER BY 3 DESC, 4 DESC, g.kind, g.target"
            ),
            &params,
        )
        .await?;
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

/// `part` as a percentage of `whole`, to two decimals (0 of nothing).
fn rate(part: i64, whole: i64) -> f64 {
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
