//! Bounds how many distinct values one dimension can have on one local day of
//! one site, as GA4 does: past `max_values_per_day`, new values are counted
//! under `(other)`. Otherwise random paths, referrers or event names (a
//! script, a scanner) would grow the rollup tables without end. The values
//! that are already there keep counting; only new ones fold.
//!
//! The number of distinct values so far is kept per site, day and dimension
//! in `daily_value_counts` (migration V7), added to in the same transaction
//! that inserts the values ([`record_new_values`]). A transaction only looks
//! at which of its values are new when a group is near its bound, so the
//! common case costs one small read. Two aggregators near the bound at the
//! same moment may each let some values in: the bound can be passed by at
//! most a transaction's worth per aggregator.

use std::collections::{BTreeMap, HashMap, HashSet};

use analytics_events::Dimension;
use chrono::NaiveDate;
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::rollup::{Deltas, DimensionKey};

/// What the values past the bound are counted as.
pub const OTHER: &str = analytics_events::FOLDED_VALUE;

/// Site, local day, dimension.
type Group = (Uuid, NaiveDate, &'static str);

/// Renames, in `deltas`, the values that would take a group past
/// `max_values` distinct values to [`OTHER`].
pub async fn fold(
    transaction: &Transaction<'_>,
    deltas: &mut Deltas,
    max_values: i64,
) -> Result<(), tokio_postgres::Error> {
    let mut candidates: BTreeMap<Group, Vec<&str>> = BTreeMap::new();
    for key in deltas.dimensions.keys() {
        let values = candidates.entry((key.site_id, key.period, key.dimension)).or_default();
        if values.last() != Some(&key.value.as_str()) {
            values.push(&key.value);
        }
    }
    for values in candidates.values_mut() {
        values.sort_unstable();
        values.dedup();
    }
    let counts = distinct_so_far(transaction, candidates.keys()).await?;
    let near: Vec<(&Group, &Vec<&str>, i64)> = candidates
        .iter()
        .filter_map(|(group, values)| {
            let so_far = counts.get(group).copied().unwrap_or(0);
            (so_far + values.len() as i64 > max_values).then_some((group, values, so_far))
        })
        .collect();
    if near.is_empty() {
        return Ok(());
    }
    let known = known_values(transaction, &near).await?;
    let mut folded: HashSet<(Group, String)> = HashSet::new();
    for (group, values, so_far) in near {
        let mut room = (max_values - so_far).max(0);
        for value in values.iter().filter(|v| **v != OTHER && !known.contains(&(*group, v.to_string()))) {
            if room > 0 {
                room -= 1;
            } else {
                folded.insert((*group, (*value).to_owned()));
            }
        }
    }
    if !folded.is_empty() {
        tracing::info!(values = folded.len(), "values past the daily bound counted as (other)");
        apply(deltas, &folded);
    }
    Ok(())
}

async fn distinct_so_far(
    transaction: &Transaction<'_>,
    groups: impl Iterator<Item = &Group>,
) -> Result<HashMap<Group, i64>, tokio_postgres::Error> {
    let groups: Vec<&Group> = groups.collect();
    let sites: Vec<Uuid> = groups.iter().map(|g| g.0).collect();
    let days: Vec<NaiveDate> = groups.iter().map(|g| g.1).collect();
    let dimensions: Vec<&str> = groups.iter().map(|g| g.2).collect();
    let rows = transaction
        .query(
            "SELECT c.site_id, c.local_day, c.dimension, c.distinct_values::int8 FROM daily_value_counts c
             JOIN unnest($1::uuid[], $2::date[], $3::text[]) AS g(site_id, local_day, dimension)
             USING (site_id, local_day, dimension)",
            &[&sites, &days, &dimensions],
        )
        .await?;
    let by_name: HashMap<(Uuid, NaiveDate, &str), &Group> = groups.iter().map(|g| ((g.0, g.1, g.2), *g)).collect();
    Ok(rows
        .iter()
        .filter_map(|row| {
            let dimension: String = row.get(2);
            let group = by_name.get(&(row.get(0), row.get(1), dimension.as_str()))?;
            Some((**group, row.get(3)))
        })
        .collect())
}

/// Which of the groups' values are stored already (they keep counting).
async fn known_values(
    transaction: &Transaction<'_>,
    near: &[(&Group, &Vec<&str>, i64)],
) -> Result<HashSet<(Group, String)>, tokio_postgres::Error> {
    let mut sites = Vec::new();
    let mut days = Vec::new();
    let mut dimensions = Vec::new();
    let mut values = Vec::new();
    for (group, group_values, _) in near {
        for value in group_values.iter() {
            sites.push(group.0);
            days.push(group.1);
            dimensions.push(group.2);
            values.push(*value);
        }
    }
    let rows = transaction
        .query(
            "SELECT c.site_id, c.local_day, c.dimension, c.value FROM daily_dimension_counts c
             JOIN unnest($1::uuid[], $2::date[], $3::text[], $4::text[]) AS v(site_id, local_day, dimension, value)
             USING (site_id, local_day, dimension, value)",
            &[&sites, &days, &dimensions, &values],
        )
        .await?;
    let groups: Vec<Group> = near.iter().map(|(g, _, _)| **g).collect();
    Ok(rows
        .iter()
        .filter_map(|row| {
            let dimension: String = row.get(2);
            let group = groups
                .iter()
                .find(|g| g.0 == row.get::<_, Uuid>(0) && g.1 == row.get::<_, NaiveDate>(1) && g.2 == dimension)?;
            Some((*group, row.get(3)))
        })
        .collect())
}

/// Renames the folded values everywhere a value of that dimension is a key:
/// the dimension rows, and for pages also the per-page speed, the titles
/// (a folded page has none) and the visits' entry and exit pages.
fn apply(deltas: &mut Deltas, folded: &HashSet<(Group, String)>) {
    let is_folded = |site, day, dimension, value: &str| folded.contains(&((site, day, dimension), value.to_owned()));
    let rows = std::mem::take(&mut deltas.dimensions);
    for (key, counts) in rows {
        let value = if is_folded(key.site_id, key.period, key.dimension, &key.value) {
            OTHER.to_owned()
        } else {
            key.value.clone()
        };
        deltas.dimensions.entry(DimensionKey { value, ..key }).or_default().merge(&counts);
    }
    deltas.dimensions.values_mut().for_each(crate::rollup::Counts::finish);

    let health = std::mem::take(&mut deltas.app_health);
    for ((site, day, version), counts) in health {
        let version =
            if is_folded(site, day, Dimension::AppVersion.as_str(), &version) { OTHER.to_owned() } else { version };
        deltas.app_health.entry((site, day, version)).or_default().merge(&counts);
    }

    let page_folded = |site, day, page: &str| is_folded(site, day, Dimension::Page.as_str(), page);
    let speed = std::mem::take(&mut deltas.speed);
    for (mut key, histogram) in speed {
        if page_folded(key.site_id, key.local_day, &key.path) {
            key.path = OTHER.to_owned();
        }
        deltas.speed.entry(key).or_default().merge(&histogram);
    }
    let folded_pages: HashSet<(Uuid, &str)> = folded
        .iter()
        .filter(|((_, _, d), _)| *d == Dimension::Page.as_str())
        .map(|((site, _, _), page)| (*site, page.as_str()))
        .collect();
    deltas.titles.retain(|(site, page), _| !folded_pages.contains(&(*site, page.as_str())));
    for hit in &mut deltas.hits {
        let day = crate::rollup::local_bucket(hit.at_ms, hit.timezone).map(|(day, _)| day);
        if day.is_some_and(|day| page_folded(hit.site_id, day, &hit.page)) {
            hit.page = OTHER.to_owned();
        }
    }
}

/// Adds the values that `inserted` (site, day, dimension per new row of
/// `daily_dimension_counts`) brought to each group's count.
pub async fn record_new_values(
    transaction: &Transaction<'_>,
    inserted: &[(Uuid, NaiveDate, String)],
) -> Result<(), tokio_postgres::Error> {
    let mut per_group: BTreeMap<(Uuid, NaiveDate, &str), i32> = BTreeMap::new();
    for (site, day, dimension) in inserted {
        *per_group.entry((*site, *day, dimension.as_str())).or_default() += 1;
    }
    if per_group.is_empty() {
        return Ok(());
    }
    let sites: Vec<Uuid> = per_group.keys().map(|k| k.0).collect();
    let days: Vec<NaiveDate> = per_group.keys().map(|k| k.1).collect();
    let dimensions: Vec<&str> = per_group.keys().map(|k| k.2).collect();
    let added: Vec<i32> = per_group.values().copied().collect();
    transaction
        .execute(
            "INSERT INTO daily_value_counts AS t (site_id, local_day, dimension, distinct_values)
             SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::int4[])
             ON CONFLICT (site_id, local_day, dimension) DO UPDATE
             SET distinct_values = t.distinct_values + EXCLUDED.distinct_values",
            &[&sites, &days, &dimensions, &added],
        )
        .await?;
    Ok(())
}
