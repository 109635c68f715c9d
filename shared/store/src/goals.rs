//! Goals (table `goals`, migration V12): a custom event's name, or a page (a
//! path, or a prefix when it ends in `*`), whose conversions the query
//! service counts from the rollups, or from the kept events in a segment.
//! Managed with `analytics-ctl goal`.
//!
//! A prefix has rollup rows of its own (dimension [`DIMENSION`], migration
//! V16): adding it derives them from its pages' rows, the aggregator adds to
//! them, deleting it deletes them. Both sides take the site's goal lock
//! first (see the migration for why that keeps them exact).

use std::collections::HashMap;

use serde::Serialize;
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

/// The dimension of a prefix goal's rollup rows; their value is the goal's target.
pub const DIMENSION: &str = "goal";

/// How many goals a site may have: the goals endpoint reads each, and every
/// batch adds to the rows of each prefix its pages start with.
pub const MAX_PER_SITE: i64 = 100;

/// The advisory lock key of a site's goals, in SQL over a uuid column `s`.
const LOCK_KEY: &str = "hashtextextended('goals/' || s::text, 16)";

/// What reaching a goal means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GoalKind {
    /// A custom event of this name.
    Event,
    /// A pageview of this path, or of any path under a prefix ending in `*`.
    Page,
}

impl GoalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GoalKind::Event => "event",
            GoalKind::Page => "page",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Goal {
    pub id: i64,
    pub kind: String,
    /// The event name or the page.
    pub target: String,
}

/// Longest event name and page a goal may have: those of an event (see
/// `analytics_events::clean::limits`), so every target can be reached.
const MAX_EVENT: usize = 256;
const MAX_PAGE: usize = 1024;

/// `target` as a goal of `kind`, or why it cannot be one.
pub fn checked(kind: GoalKind, target: &str) -> anyhow::Result<String> {
    let target = target.trim();
    anyhow::ensure!(!target.is_empty(), "the goal's {} is empty", kind.as_str());
    anyhow::ensure!(!target.chars().any(char::is_control), "the goal's {} has control characters", kind.as_str());
    match kind {
        GoalKind::Event => anyhow::ensure!(target.len() <= MAX_EVENT, "an event name is at most {MAX_EVENT} bytes"),
        GoalKind::Page => {
            anyhow::ensure!(target.starts_with('/'), "a page goal is a path starting with / (a prefix ends in *)");
            anyhow::ensure!(target.len() <= MAX_PAGE, "a page is at most {MAX_PAGE} bytes");
        }
    }
    Ok(target.to_owned())
}

/// Whether a goal has rollup rows of its own: a page prefix.
pub fn has_rows(kind: &str, target: &str) -> bool {
    kind == GoalKind::Page.as_str() && target.ends_with('*')
}

/// Adds a goal (again: nothing changes) and, for a prefix, derives its
/// rollup rows from its pages' rows (added again, derives them anew: the
/// repair after an upgrade past V16, see docs/OPERATING.md); returns it.
pub async fn add(client: &mut Client, site: Uuid, kind: GoalKind, target: &str) -> anyhow::Result<Goal> {
    let target = checked(kind, target)?;
    let transaction = client.transaction().await?;
    lock(&transaction, site).await?;
    let count: i64 = transaction.query_one("SELECT count(*) FROM goals WHERE site_id = $1", &[&site]).await?.get(0);
    let row = transaction
        .query_one(
            "INSERT INTO goals (site_id, kind, target) VALUES ($1, $2, $3)
             ON CONFLICT (site_id, kind, target) DO UPDATE SET target = EXCLUDED.target
             RETURNING id, kind, target, xmax = 0",
            &[&site, &kind.as_str(), &target],
        )
        .await?;
    let (goal, new) = (Goal { id: row.get(0), kind: row.get(1), target: row.get(2) }, row.get::<_, bool>(3));
    anyhow::ensure!(!new || count < MAX_PER_SITE, "a site has at most {MAX_PER_SITE} goals");
    if has_rows(&goal.kind, &goal.target) {
        transaction.execute("SELECT analytics_goal_rows_derive($1, $2)", &[&site, &goal.target]).await?;
    }
    transaction.commit().await?;
    Ok(goal)
}

/// Takes the site's goal lock, exclusive, until the transaction ends: no
/// writer adds to goal rows meanwhile.
async fn lock(transaction: &Transaction<'_>, site: Uuid) -> Result<(), tokio_postgres::Error> {
    let sql = format!("SELECT pg_advisory_xact_lock({LOCK_KEY}) FROM (SELECT $1::uuid) AS k(s)");
    transaction.execute(&sql, &[&site]).await?;
    Ok(())
}

/// Takes the goal lock of each of `sites`, shared, until the transaction
/// ends: for a writer that sums rows again (sealing a week), so that no goal
/// is added or deleted meanwhile.
pub async fn lock_shared(transaction: &Transaction<'_>, sites: &[Uuid]) -> Result<(), tokio_postgres::Error> {
    // In the order of `sites` (unnest yields the array in order; see `prefixes_held`).
    let sql = format!("SELECT count(pg_advisory_xact_lock_shared({LOCK_KEY})) FROM unnest($1::uuid[]) AS k(s)");
    transaction.execute(&sql, &[&sites]).await?;
    Ok(())
}

/// For a writer of rollup rows: takes the goal lock of each of `sites`,
/// shared, until the transaction ends, then reads their prefix goals (in a
/// statement of its own: one begun before an adder committed would miss its
/// goal). Every writer takes this lock before any other of its advisory
/// locks, so that they are all taken in one order.
///
/// While an adder waits for a site's lock, Postgres queues new shared
/// requests for it behind the adder. Two writers that each held one site and
/// waited for the other's behind an adder would deadlock: so every writer
/// takes its sites' locks in one order, by site id.
pub async fn prefixes_held(
    transaction: &Transaction<'_>,
    sites: &[Uuid],
) -> Result<HashMap<Uuid, Vec<String>>, tokio_postgres::Error> {
    if sites.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sites = sites.to_vec();
    sites.sort_unstable();
    sites.dedup();
    lock_shared(transaction, &sites).await?;
    let rows = transaction
        .query("SELECT site_id, kind, target FROM goals WHERE site_id = ANY($1) ORDER BY site_id, target", &[&sites])
        .await?;
    let mut prefixes: HashMap<Uuid, Vec<String>> = HashMap::new();
    for row in rows.iter().filter(|r| has_rows(r.get(1), r.get(2))) {
        prefixes.entry(row.get(0)).or_default().push(row.get(2));
    }
    Ok(prefixes)
}

/// The site's goals, oldest first.
pub async fn list(client: &Client, site: Uuid) -> Result<Vec<Goal>, tokio_postgres::Error> {
    let rows = client.query("SELECT id, kind, target FROM goals WHERE site_id = $1 ORDER BY id", &[&site]).await?;
    Ok(rows.iter().map(|r| Goal { id: r.get(0), kind: r.get(1), target: r.get(2) }).collect())
}

/// Deletes a goal, and its rollup rows; whether there was one.
pub async fn delete(client: &mut Client, site: Uuid, kind: GoalKind, target: &str) -> anyhow::Result<bool> {
    let target = target.trim();
    let transaction = client.transaction().await?;
    lock(&transaction, site).await?;
    let deleted = transaction
        .execute(
            "DELETE FROM goals WHERE site_id = $1 AND kind = $2 AND target = $3",
            &[&site, &kind.as_str(), &target],
        )
        .await?;
    if deleted > 0 && has_rows(kind.as_str(), target) {
        transaction.execute("SELECT analytics_goal_rows_drop($1, $2)", &[&site, &target]).await?;
    }
    transaction.commit().await?;
    Ok(deleted > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_are_checked() {
        assert_eq!(checked(GoalKind::Page, " /pricing ").ok().as_deref(), Some("/pricing"));
        assert_eq!(checked(GoalKind::Page, "/blog/*").ok().as_deref(), Some("/blog/*"));
        assert_eq!(checked(GoalKind::Event, "signup").ok().as_deref(), Some("signup"));
        assert!(checked(GoalKind::Page, "pricing").is_err());
        assert!(checked(GoalKind::Event, "").is_err());
        assert!(checked(GoalKind::Event, "a\u{0}b").is_err());
        assert!(checked(GoalKind::Event, &"x".repeat(257)).is_err());
    }
}
