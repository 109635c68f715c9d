//! Funnels: 2 to 8 steps in order, each a page (a path, or a prefix when it
//! ends in `*`) or a custom event. The query service counts the visitors
//! who went through them from the kept events, given as `step=` parameters
//! or as the name of a funnel saved here (table `funnels`, migration V13,
//! managed with `analytics-ctl funnel`).

use serde::Serialize;
use tokio_postgres::Client;
use uuid::Uuid;

pub const MIN_STEPS: usize = 2;
pub const MAX_STEPS: usize = 8;
/// Saved funnels per site: each is one more choice in the panel.
pub const MAX_SAVED: i64 = 100;
/// Longest name, in characters.
const MAX_NAME: usize = 100;
/// Longest page and event name of a step: those an event may have (see
/// `analytics_events::clean::limits`), so that every step can be reached.
const MAX_PAGE: usize = 1024;
const MAX_EVENT: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Page(String),
    Event(String),
}

impl Step {
    /// As written in a `step` parameter.
    pub fn text(&self) -> String {
        match self {
            Step::Page(path) => format!("page=={path}"),
            Step::Event(name) => format!("event=={name}"),
        }
    }

    /// The page or event name it matches.
    pub fn target(&self) -> &String {
        match self {
            Step::Page(target) | Step::Event(target) => target,
        }
    }
}

/// Steps as written (`page==/a`, `event==signup`), checked, or why they
/// cannot be a funnel.
pub fn parse_steps(texts: &[String]) -> Result<Vec<Step>, String> {
    if !(MIN_STEPS..=MAX_STEPS).contains(&texts.len()) {
        return Err(format!("a funnel has {MIN_STEPS} to {MAX_STEPS} steps, got {}", texts.len()));
    }
    let steps = texts
        .iter()
        .map(|text| match text.split_once("==") {
            Some(("page", path)) if path.starts_with('/') && path.len() <= MAX_PAGE => Ok(Step::Page(path.to_owned())),
            Some(("event", name)) if !name.is_empty() && name.len() <= MAX_EVENT => Ok(Step::Event(name.to_owned())),
            _ => Err(format!("{text:?}: expected page==<path starting with /> or event==<name>")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if steps.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err("two steps in a row are the same".into());
    }
    Ok(steps)
}

/// `name` as a funnel's name, or why it cannot be one.
pub fn checked_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("a funnel's name is empty".into());
    }
    if name.chars().any(char::is_control) {
        return Err("a funnel's name has control characters".into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("a funnel's name is at most {MAX_NAME} characters"));
    }
    Ok(name.to_owned())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SavedFunnel {
    pub name: String,
    /// As written in `step` parameters.
    pub steps: Vec<String>,
}

/// Saves a funnel under `name` (a funnel of that name gets these steps);
/// returns it. A site has at most [`MAX_SAVED`].
pub async fn save(client: &Client, site: Uuid, name: &str, steps: &[String]) -> anyhow::Result<SavedFunnel> {
    let name = checked_name(name).map_err(anyhow::Error::msg)?;
    let steps: Vec<String> = parse_steps(steps).map_err(anyhow::Error::msg)?.iter().map(Step::text).collect();
    // The bound is checked in the statement, so two saves at once cannot both pass it.
    let row = client
        .query_opt(
            "INSERT INTO funnels (site_id, name, steps)
             SELECT $1, $2, $3
             WHERE (SELECT count(*) FROM funnels WHERE site_id = $1 AND name <> $2) < $4
             ON CONFLICT (site_id, name) DO UPDATE SET steps = EXCLUDED.steps
             RETURNING name, steps",
            &[&site, &name, &steps, &MAX_SAVED],
        )
        .await?;
    let row = row.ok_or_else(|| anyhow::anyhow!("the site has {MAX_SAVED} saved funnels: delete one first"))?;
    Ok(SavedFunnel { name: row.get(0), steps: row.get(1) })
}

/// The site's saved funnels, by name.
pub async fn list(client: &Client, site: Uuid) -> Result<Vec<SavedFunnel>, tokio_postgres::Error> {
    let rows = client.query("SELECT name, steps FROM funnels WHERE site_id = $1 ORDER BY name", &[&site]).await?;
    Ok(rows.iter().map(|r| SavedFunnel { name: r.get(0), steps: r.get(1) }).collect())
}

/// The saved funnel called `name`, if there is one.
pub async fn find(client: &Client, site: Uuid, name: &str) -> Result<Option<SavedFunnel>, tokio_postgres::Error> {
    let row = client
        .query_opt("SELECT name, steps FROM funnels WHERE site_id = $1 AND name = $2", &[&site, &name.trim()])
        .await?;
    Ok(row.map(|r| SavedFunnel { name: r.get(0), steps: r.get(1) }))
}

/// Deletes a saved funnel; whether there was one.
pub async fn delete(client: &Client, site: Uuid, name: &str) -> Result<bool, tokio_postgres::Error> {
    let deleted =
        client.execute("DELETE FROM funnels WHERE site_id = $1 AND name = $2", &[&site, &name.trim()]).await?;
    Ok(deleted > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn steps_are_pages_or_events() {
        let steps = parse_steps(&texts(&["page==/a", "event==signup", "page==/blog/*"])).expect("valid");
        assert_eq!(steps[2], Step::Page("/blog/*".into()));
        assert_eq!(steps[1].text(), "event==signup");
        assert_eq!(steps[0].target(), "/a");
        for bad in [&["page==/a"][..], &["page==a", "event==x"], &["event==", "page==/"], &["page==/a", "page==/a"]] {
            assert!(parse_steps(&texts(bad)).is_err(), "{bad:?}");
        }
        assert!(parse_steps(&texts(&[["page==/a", "event==b"]; 5].concat())).is_err(), "more than 8");
        let long = format!("event=={}", "x".repeat(MAX_EVENT + 1));
        assert!(parse_steps(&texts(&["page==/", &long])).is_err(), "longer than an event name can be");
    }

    #[test]
    fn names_are_short_printable_text() {
        assert_eq!(checked_name("  Pricing to signup ").as_deref(), Ok("Pricing to signup"));
        assert_eq!(checked_name("قیف خرید").as_deref(), Ok("قیف خرید"));
        for bad in ["", "   ", "a\u{0}b", "line\nbreak"] {
            assert!(checked_name(bad).is_err(), "{bad:?}");
        }
        assert!(checked_name(&"ن".repeat(MAX_NAME)).is_ok());
        assert!(checked_name(&"ن".repeat(MAX_NAME + 1)).is_err());
    }
}
