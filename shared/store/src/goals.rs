//! Goals (table `goals`, migration V12): a custom event's name, or a page (a
//! path, or a prefix when it ends in `*`), whose conversions the query
//! service counts from the kept events. Managed with `analytics-ctl goal`.

use serde::Serialize;
use tokio_postgres::Client;
use uuid::Uuid;

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

/// Adds a goal (again: nothing changes); returns it.
pub async fn add(client: &Client, site: Uuid, kind: GoalKind, target: &str) -> anyhow::Result<Goal> {
    let target = checked(kind, target)?;
    let row = client
        .query_one(
            "INSERT INTO goals (site_id, kind, target) VALUES ($1, $2, $3)
             ON CONFLICT (site_id, kind, target) DO UPDATE SET target = EXCLUDED.target
             RETURNING id, kind, target",
            &[&site, &kind.as_str(), &target],
        )
        .await?;
    Ok(Goal { id: row.get(0), kind: row.get(1), target: row.get(2) })
}

/// The site's goals, oldest first.
pub async fn list(client: &Client, site: Uuid) -> Result<Vec<Goal>, tokio_postgres::Error> {
    let rows = client.query("SELECT id, kind, target FROM goals WHERE site_id = $1 ORDER BY id", &[&site]).await?;
    Ok(rows.iter().map(|r| Goal { id: r.get(0), kind: r.get(1), target: r.get(2) }).collect())
}

/// Deletes a goal; whether there was one.
pub async fn delete(client: &Client, site: Uuid, kind: GoalKind, target: &str) -> anyhow::Result<bool> {
    let deleted = client
        .execute(
            "DELETE FROM goals WHERE site_id = $1 AND kind = $2 AND target = $3",
            &[&site, &kind.as_str(), &target.trim()],
        )
        .await?;
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
