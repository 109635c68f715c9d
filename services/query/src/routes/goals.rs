//! `GET /api/analytics/goals/`: each goal of the site (`analytics-ctl goal
//! add`) with the visitors who reached it, how often, and the conversion
//! rate over the range: from the rollups without filters, from the kept
//! events with them.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::Goals;
use crate::error::QueryError;
use crate::kept::{self, Segment};
use crate::params::{Params, allowed};
use crate::startup::AppState;
use crate::stats;

/// Goals with their conversions, most converting first.
#[utoipa::path(
    get,
    path = "/api/analytics/goals/",
    params(crate::api::KeptParams, crate::api::FormatParam),
    responses(
        (status = 200, description = "The answer", body = Goals),
        crate::api::SiteErrors,
    )
)]
pub async fn goals(
    request: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state, allowed::KEPT).await?;
    let (range, source, filters) = (params.range(ctx.today, 30)?, params.source()?, params.filters()?);
    let limit = params.limit()?;
    let mut connection = super::connection(&state).await?;
    let snapshot = super::answer_snapshot(&mut connection, !filters.is_empty()).await?;
    let client = snapshot.client();
    // The goals are part of the answer's key: one added or deleted is
    // counted at once, whatever the cache holds.
    let defined = analytics_store::goals::list(client, ctx.site.id).await.map_err(anyhow::Error::from)?;
    let names: Vec<String> = defined.iter().map(|g| format!("{}:{}", g.kind, g.target)).collect();
    let key = CacheKey::new("goals", ctx.today)
        .with("filter", &filters)
        .with("range", range)
        .with("source", source.unwrap_or("all"))
        .with("limit", limit)
        .with("goals", blake3::hash(names.join("\n").as_bytes()).to_hex());
    let format = Format::of(&params, "results")?;
    cached(&request, &state, &ctx.site, range.includes(ctx.today), key, format, async {
        let (mut results, visitors) = match filters.is_empty() {
            true => stats::goals(client, ctx.site.id, defined, range, ctx.today, source).await?,
            false => {
                let segment = Segment { site: ctx.site.id, source, filters: &filters };
                kept::goals(client, &segment, defined, range).await?
            }
        };
        results.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(Goals { from: range.from, to: range.to, visitors, results })
    })
    .await
}
