//! One batch, one transaction: record the batch id, apply the deltas, commit.

use analytics_events::EventBatch;
use analytics_store::PgPool;
use analytics_store::sites::SiteDirectory;
use uuid::Uuid;

use crate::rollup::{HourlyRow, hourly_row};

#[derive(Debug, PartialEq)]
pub enum Applied {
    /// Applied now: `counted` events in rollups, `unknown_site` skipped.
    Counted { counted: usize, unknown_site: usize },
    /// This batch id was applied before; nothing was changed.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The message itself is wrong: retrying cannot help; it is dead-lettered.
    #[error("poison batch: {0}")]
    Poison(String),
    /// Postgres trouble: the same batch is retried until it goes through.
    #[error("database: {0:#}")]
    Database(#[from] anyhow::Error),
}

impl From<tokio_postgres::Error> for ApplyError {
    fn from(error: tokio_postgres::Error) -> Self {
        ApplyError::Database(error.into())
    }
}

/// Adds the batch's events to the hourly totals, grouping in SQL so each
/// (site, day, hour, source) is upserted once per batch.
const UPSERT_HOURLY: &str = "
INSERT INTO hourly_totals AS t (site_id, local_day, local_hour, source, pageviews, events, visitors)
SELECT site_id, local_day, local_hour, source,
       count(*) FILTER (WHERE is_pageview),
       count(*) FILTER (WHERE NOT is_pageview),
       hll_add_agg(hll_hash_bigint(visitor_id))
FROM unnest($1::uuid[], $2::date[], $3::int2[], $4::text[], $5::bool[], $6::int8[])
     AS e(site_id, local_day, local_hour, source, is_pageview, visitor_id)
GROUP BY site_id, local_day, local_hour, source
ON CONFLICT (site_id, local_day, local_hour, source) DO UPDATE SET
    pageviews = t.pageviews + EXCLUDED.pageviews,
    events = t.events + EXCLUDED.events,
    visitors = hll_union(t.visitors, EXCLUDED.visitors)";

pub async fn apply_batch(pool: &PgPool, sites: &SiteDirectory, batch: &EventBatch) -> Result<Applied, ApplyError> {
    let batch_id =
        Uuid::parse_str(&batch.batch_id).map_err(|_| ApplyError::Poison(format!("batch_id {:?}", batch.batch_id)))?;
    let mut rows = Vec::with_capacity(batch.events.len());
    let mut unknown_site = 0;
    for event in &batch.events {
        let site = match sites.resolve(&event.site_id).await {
            Some(site) => site,
            None => {
                unknown_site += 1;
                continue;
            }
        };
        match hourly_row(event, site.id, site.timezone) {
            Some(row) => rows.push(row),
            None => unknown_site += 1,
        }
    }

    let mut client = pool.get().await.map_err(anyhow::Error::from)?;
    let transaction = client.transaction().await?;
    let first_time = transaction
        .execute(
            "INSERT INTO processed_batches (batch_id, event_count) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&batch_id, &(batch.events.len() as i32)],
        )
        .await?;
    if first_time == 0 {
        transaction.rollback().await?;
        return Ok(Applied::Duplicate);
    }
    upsert_hourly(&transaction, &rows).await?;
    transaction.commit().await?;
    Ok(Applied::Counted { counted: rows.len(), unknown_site })
}

async fn upsert_hourly(transaction: &tokio_postgres::Transaction<'_>, rows: &[HourlyRow]) -> Result<(), ApplyError> {
    if rows.is_empty() {
        return Ok(());
    }
    let site_ids: Vec<Uuid> = rows.iter().map(|r| r.site_id).collect();
    let days: Vec<chrono::NaiveDate> = rows.iter().map(|r| r.local_day).collect();
    let hours: Vec<i16> = rows.iter().map(|r| r.local_hour).collect();
    let sources: Vec<&str> = rows.iter().map(|r| r.source).collect();
    let pageviews: Vec<bool> = rows.iter().map(|r| r.is_pageview).collect();
    let visitors: Vec<i64> = rows.iter().map(|r| r.visitor_id).collect();
    transaction.execute(UPSERT_HOURLY, &[&site_ids, &days, &hours, &sources, &pageviews, &visitors]).await?;
    Ok(())
}
