//! The rows of the site's prefix goals (`analytics_store::goals`, migration
//! V16): the page rows a writer is about to add, added once more under each
//! prefix goal they start with, so a goal's rows stay the sum of its pages'.

use std::collections::{BTreeMap, HashMap};

use analytics_events::Dimension;
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::rollup::{Counts, Deltas, DimensionKey};

/// The prefix goals of the sites a writer adds rows of, per site, with
/// their goal lock held (shared) until its transaction ends (see
/// `analytics_store::goals::prefixes_held`).
pub(crate) struct Held(HashMap<Uuid, Vec<String>>);

impl Held {
    /// Takes the goal lock of every site `deltas` has pages of, and reads their goals.
    pub(crate) async fn take(transaction: &Transaction<'_>, deltas: &Deltas) -> Result<Self, tokio_postgres::Error> {
        // In any order, repeated: `prefixes_held` sorts them.
        let sites: Vec<Uuid> = pages(deltas).map(|(k, _)| k.site_id).collect();
        Self::take_of(transaction, &sites).await
    }

    /// Takes the goal lock of `sites`, and reads their goals.
    pub(crate) async fn take_of(transaction: &Transaction<'_>, sites: &[Uuid]) -> Result<Self, tokio_postgres::Error> {
        Ok(Self(analytics_store::goals::prefixes_held(transaction, sites).await?))
    }

    /// Adds the page rows of `deltas` to the rows of the goals they reach.
    /// Call it after the values are folded: a goal sums the page rows as they
    /// are stored.
    pub(crate) fn add_to(&self, deltas: &mut Deltas) {
        let mut goals: BTreeMap<DimensionKey, Counts> = BTreeMap::new();
        for (key, counts) in pages(deltas) {
            let Some(targets) = self.0.get(&key.site_id) else { continue };
            for target in targets.iter().filter(|t| reaches(t, &key.value)) {
                let dimension = analytics_store::goals::DIMENSION;
                let goal = DimensionKey { dimension, value: target.clone(), ..key.clone() };
                goals.entry(goal).or_default().merge(counts);
            }
        }
        for (key, mut counts) in goals {
            counts.finish();
            deltas.dimensions.insert(key, counts);
        }
    }
}

fn pages(deltas: &Deltas) -> impl Iterator<Item = (&DimensionKey, &Counts)> {
    deltas.dimensions.iter().filter(|(k, _)| k.dimension == Dimension::Page.as_str())
}

/// Whether a page reaches a prefix goal (`target` ends in `*`).
fn reaches(target: &str, page: &str) -> bool {
    target.strip_suffix('*').is_some_and(|prefix| page.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::reaches;

    #[test]
    fn a_page_reaches_the_prefixes_it_starts_with() {
        assert!(reaches("/blog/*", "/blog/a"));
        assert!(reaches("/blog/*", "/blog/"));
        assert!(reaches("/*", "/"));
        assert!(!reaches("/blog/*", "/blog"));
        assert!(!reaches("/blog/*", "/Blog/a"));
        // A star inside the prefix is a character like any other.
        assert!(reaches("/a*b/*", "/a*b/c"));
        assert!(!reaches("/a*b/*", "/axb/c"));
        assert!(!reaches("/blog", "/blog"));
    }
}
