//! Funnels: `step=page==<path>` or `step=event==<name>`, 2 to 8 in order
//! (see `analytics_store::funnels`, which also keeps them by name).
//! A visitor reaches a step when, within the range (and segment), they have
//! an event matching it at or after the moment they reached the step
//! before; a page step ending in `*` is a prefix, as goals' are.

use tokio_postgres::Client;

use crate::error::QueryError;
use crate::kept::{COUNTED, Segment};
use crate::params::DayRange;

pub use analytics_store::funnels::Step;

/// The condition an event meets to reach `step`, its target being `$at`.
fn condition(step: &Step, at: usize) -> String {
    match step {
        Step::Event(_) => format!("kind = 1 AND event = ${at}"),
        Step::Page(path) if path.ends_with('*') => format!("kind = 0 AND starts_with(page, left(${at}, -1))"),
        Step::Page(_) => format!("kind = 0 AND page = ${at}"),
    }
}

/// The token ([`crate::filters::TOKENS`]) of the events that may reach
/// `step`; none for a prefix.
fn token(step: &Step) -> Option<String> {
    match step {
        Step::Page(path) if path.ends_with('*') => None,
        Step::Page(path) => Some(format!("page:{path}")),
        Step::Event(name) => Some(format!("event:{name}")),
    }
}

/// The `step` parameters, checked; each error names `step`.
pub fn parse(texts: &[String]) -> Result<Vec<Step>, QueryError> {
    analytics_store::funnels::parse_steps(texts).map_err(|reason| QueryError::BadParameter { name: "step", reason })
}

/// The visitors who reached each step, in order.
pub async fn visitors_per_step(
    client: &Client,
    segment: &Segment<'_>,
    range: DayRange,
    steps: &[Step],
) -> Result<Vec<i64>, tokio_postgres::Error> {
    let scope = segment.over_counted(client, range.from, range.to).await?;
    let (conditions, mut params) = scope.conditions();
    let mut matches = Vec::new();
    for step in steps {
        params.push(step.target());
        matches.push(condition(step, params.len()));
    }
    // Only the events that reach some step are read past the scan; when no
    // step is a prefix, the token index finds them (any of their tokens).
    let mut any = format!("({})", matches.iter().map(|m| format!("({m})")).collect::<Vec<_>>().join(" OR "));
    let tokens: Option<Vec<String>> = steps.iter().map(token).collect();
    if let Some(tokens) = &tokens {
        params.push(tokens);
        any.push_str(&format!(" AND {} && ${}::text[]", crate::filters::TOKENS, params.len()));
    }
    let mut ctes = vec![format!(
        "e AS (SELECT visitor_id, at, kind, page, event FROM events WHERE {conditions} AND {COUNTED} AND {any})"
    )];
    for (i, condition) in matches.iter().enumerate() {
        ctes.push(match i {
            0 => format!("s0 AS (SELECT visitor_id, min(at) AS at FROM e WHERE {condition} GROUP BY visitor_id)"),
            _ => format!(
                "s{i} AS (SELECT e.visitor_id, min(e.at) AS at FROM e JOIN s{} p ON p.visitor_id = e.visitor_id
                          WHERE {condition} AND e.at >= p.at GROUP BY e.visitor_id)",
                i - 1
            ),
        });
    }
    let counts: Vec<String> = (0..steps.len()).map(|i| format!("(SELECT count(*) FROM s{i})")).collect();
    let sql = format!("WITH {} SELECT {}", ctes.join(",\n"), counts.join(", "));
    let row = client.query_one(&sql, &params).await?;
    Ok((0..steps.len()).map(|i| row.get(i)).collect())
}
