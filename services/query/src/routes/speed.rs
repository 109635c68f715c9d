//! `GET /api/analytics/speed/`: response time, time to first byte and page
//! load time for the whole site and its most-viewed timed pages, each as
//! count, mean, p50 and p95 from the merged histograms.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{SiteRequest, cached};
use crate::error::QueryError;
use crate::params::Params;
use crate::speed::Summary;
use crate::startup::AppState;
use crate::stats;

pub async fn speed(
    request: HttpRequest,
    params: web::Query<Params>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state).await?;
    let range = params.range(ctx.today, 30)?;
    let source = params.source()?;
    let limit = params.limit()?;
    cached(&request, &state, &ctx.site, range.includes(ctx.today), async {
        let client = state.pool.get().await.map_err(anyhow::Error::from)?;
        let rows = stats::speed(&client, ctx.site.id, range, source, limit).await?;
        let mut overall = serde_json::Map::new();
        let mut pages: BTreeMap<String, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
        for row in &rows {
            let summary = json!(Summary::new(row.count, row.sum_ms, &row.histogram));
            match &row.path {
                None => {
                    overall.insert(row.metric.clone(), summary);
                }
                Some(path) => {
                    pages.entry(path.clone()).or_default().insert(row.metric.clone(), summary);
                }
            }
        }
        let mut pages: Vec<serde_json::Value> = pages
            .into_iter()
            .map(|(path, metrics)| {
                let mut page = json!({ "path": path });
                for (metric, summary) in metrics {
                    page[metric] = summary;
                }
                page
            })
            .collect();
        let views = |p: &serde_json::Value| {
            ["load_ms", "response_ms", "ttfb_ms"]
                .iter()
                .map(|m| p[*m]["count"].as_i64().unwrap_or(0))
                .max()
                .unwrap_or(0)
        };
        pages.sort_by_key(|p| std::cmp::Reverse(views(p)));
        Ok(json!({ "from": range.from, "to": range.to, "overall": overall, "pages": pages }))
    })
    .await
}
