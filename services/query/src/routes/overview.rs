//! `GET /api/analytics/overview/`: today, yesterday, this month, the last 30
//! days and all time, each with pageviews, visitors and events, plus the split
//! by source.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Datelike, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::QueryError;
use crate::startup::AppState;

#[derive(Deserialize)]
pub struct Params {
    site: Option<String>,
}

#[derive(Serialize, Default, Debug, PartialEq)]
pub struct Totals {
    pub pageviews: i64,
    pub visitors: i64,
    pub events: i64,
}

#[derive(Serialize)]
struct SourceTotals {
    source: String,
    pageviews: i64,
    visitors: i64,
}

/// All five periods in one scan of the site's hourly rows. Visitors are HLL
/// unions over each period, never sums of smaller periods' uniques.
const PERIODS_SQL: &str = "
SELECT
  coalesce(sum(pageviews) FILTER (WHERE local_day = $2), 0)::int8,
  coalesce(round(hll_cardinality(hll_union_agg(visitors) FILTER (WHERE local_day = $2))), 0)::int8,
  coalesce(sum(events) FILTER (WHERE local_day = $2), 0)::int8,
  coalesce(sum(pageviews) FILTER (WHERE local_day = $3), 0)::int8,
  coalesce(round(hll_cardinality(hll_union_agg(visitors) FILTER (WHERE local_day = $3))), 0)::int8,
  coalesce(sum(events) FILTER (WHERE local_day = $3), 0)::int8,
  coalesce(sum(pageviews) FILTER (WHERE local_day >= $4), 0)::int8,
  coalesce(round(hll_cardinality(hll_union_agg(visitors) FILTER (WHERE local_day >= $4))), 0)::int8,
  coalesce(sum(events) FILTER (WHERE local_day >= $4), 0)::int8,
  coalesce(sum(pageviews) FILTER (WHERE local_day >= $5), 0)::int8,
  coalesce(round(hll_cardinality(hll_union_agg(visitors) FILTER (WHERE local_day >= $5))), 0)::int8,
  coalesce(sum(events) FILTER (WHERE local_day >= $5), 0)::int8,
  coalesce(sum(pageviews), 0)::int8,
  coalesce(round(hll_cardinality(hll_union_agg(visitors))), 0)::int8,
  coalesce(sum(events), 0)::int8
FROM hourly_totals
WHERE site_id = $1 AND local_day <= $2";

const BY_SOURCE_SQL: &str = "
SELECT source, sum(pageviews)::int8, coalesce(round(hll_cardinality(hll_union_agg(visitors))), 0)::int8
FROM hourly_totals
WHERE site_id = $1 AND local_day BETWEEN $2 AND $3
GROUP BY source
ORDER BY source";

pub async fn overview(
    request: HttpRequest,
    params: web::Query<Params>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let site_param = super::require_site(&params.site)?;
    let site = crate::auth::authorize_site(&request, &state.sites, site_param).await?;
    let today = Utc::now().with_timezone(&site.timezone).date_naive();
    let days_back = |n: u64| today.checked_sub_days(Days::new(n)).unwrap_or(NaiveDate::MIN);
    let yesterday = days_back(1);
    let month_start = today.with_day(1).unwrap_or(today);
    let last_30_start = days_back(29);

    let client = state.pool.get().await.map_err(anyhow::Error::from)?;
    let row = client.query_one(PERIODS_SQL, &[&site.id, &today, &yesterday, &month_start, &last_30_start]).await?;
    let totals = |i: usize| Totals { pageviews: row.get(i), visitors: row.get(i + 1), events: row.get(i + 2) };
    let by_source: Vec<SourceTotals> = client
        .query(BY_SOURCE_SQL, &[&site.id, &last_30_start, &today])
        .await?
        .iter()
        .map(|r| SourceTotals { source: r.get(0), pageviews: r.get(1), visitors: r.get(2) })
        .collect();

    Ok(HttpResponse::Ok().json(serde_json::json!({
        "site": site.id,
        "domain": site.domain,
        "timezone": site.timezone.name(),
        "today": totals(0),
        "yesterday": totals(3),
        "this_month": totals(6),
        "last_30_days": totals(9),
        "total": totals(12),
        "by_source": by_source,
    })))
}
