//! Funnels: `step=page==<path>` or `step=event==<name>`, 2 to 8 in order.
//! A visitor reaches a step when, within the range (and segment), they have
//! an event matching it at or after the moment they reached the step
//! before; a page step ending in `*` is a prefix, as goals' are.

use tokio_postgres::Client;

use crate::error::QueryError;
use crate::kept::{COUNTED, Segment};
use crate::params::DayRange;

pub const MIN_STEPS: usize = 2;
pub const MAX_STEPS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Page(String),
    Event(String),
}

impl Step {
    /// As asked for, for the answer and the cache key.
    pub fn text(&self) -> String {
        match self {
            Step::Page(path) => format!("page=={path}"),
            Step::Event(name) => format!("event=={name}"),
        }
    }

    fn target(&self) -> &String {
        match self {
            Step::Page(target) | Step::Event(target) => target,
        }
    }

    /// The condition an event meets to reach it, its target being `$at`.
    fn condition(&self, at: usize) -> String {
        match self {
            Step::Event(_) => format!("kind = 1 AND event = ${at}"),
            Step::Page(path) if path.ends_with('*') => {
                format!("kind = 0 AND starts_with(page, left(${at}, -1))")
            }
            Step::Page(_) => format!("kind = 0 AND page = ${at}"),
        }
    }
}

/// The `step` parameters, checked; each error names `step`.
pub fn parse(texts: &[String]) -> Result<Vec<Step>, QueryError> {
    let bad = |reason: String| QueryError::BadParameter { name: "step", reason };
    if !(MIN_STEPS..=MAX_STEPS).contains(&texts.len()) {
        return Err(bad(format!("a funnel has {MIN_STEPS} to {MAX_STEPS} steps, got {}", texts.len())));
    }
    let steps = texts
        .iter()
        .map(|text| match text.split_once("==") {
            Some(("page", path)) if path.starts_with('/') && path.len() <= 1024 => Ok(Step::Page(path.to_owned())),
            Some(("event", name)) if !name.is_empty() && name.len() <= 256 => Ok(Step::Event(name.to_owned())),
            _ => Err(bad(format!("{text:?}: expected page==<path starting with /> or event==<name>"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if steps.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(bad("two steps in a row are the same".into()));
    }
    Ok(steps)
}

/// The visitors who reached each step, in order.
pub async fn visitors_per_step(
    client: &Client,
    segment: &Segment<'_>,
    range: DayRange,
    steps: &[Step],
) -> Result<Vec<i64>, tokio_postgres::Error> {
    let (conditions, mut params) = segment.within(&range.from, &range.to);
    let mut matches = Vec::new();
    for step in steps {
        params.push(step.target());
        matches.push(step.condition(params.len()));
    }
    // Only the events that reach some step are read past the scan.
    let any = matches.iter().map(|m| format!("({m})")).collect::<Vec<_>>().join(" OR ");
    let mut ctes = vec![format!(
        "e AS (SELECT visitor_id, at, kind, page, event FROM events WHERE {conditions} AND {COUNTED} AND ({any}))"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_pages_or_events() {
        let texts = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let steps = parse(&texts(&["page==/a", "event==signup", "page==/blog/*"])).expect("valid");
        assert_eq!(steps[2], Step::Page("/blog/*".into()));
        assert_eq!(steps[1].text(), "event==signup");
        for bad in [&["page==/a"][..], &["page==a", "event==x"], &["event==", "page==/"], &["page==/a", "page==/a"]] {
            assert!(parse(&texts(bad)).is_err(), "{bad:?}");
        }
        assert!(parse(&texts(&[["page==/a", "event==b"]; 5].concat())).is_err(), "more than 8");
    }
}
