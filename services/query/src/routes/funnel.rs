//! `GET /api/analytics/funnel/?step=...&step=...`: how many visitors went
//! through each step of a funnel, in order, within the range.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::{Funnel, FunnelStep};
use crate::error::QueryError;
use crate::kept::Segment;
use crate::params::{Params, allowed};
use crate::startup::AppState;

/// Visitors per step, with conversion and drop-off.
#[utoipa::path(
    get,
    path = "/api/analytics/funnel/",
    params(crate::api::FunnelParams),
    responses(
        (status = 200, description = "The answer", body = Funnel),
        crate::api::SiteErrors,
    )
)]
pub async fn funnel(
    request: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state, allowed::FUNNEL).await?;
    let steps = crate::funnel::parse(params.step.as_deref().unwrap_or_default())?;
    let (range, source, filters) = (params.range(ctx.today, 30)?, params.source()?, params.filters()?);
    let texts: Vec<String> = steps.iter().map(|s| s.text()).collect();
    let key = CacheKey::new("funnel", ctx.today)
        .with("filter", &filters)
        .with("range", range)
        .with("source", source.unwrap_or("all"))
        .with("steps", blake3::hash(serde_json::to_string(&texts).unwrap_or_default().as_bytes()).to_hex());
    cached(&request, &state, &ctx.site, range.includes(ctx.today), key, Format::Json, async {
        let client = state.pool.get().await.map_err(anyhow::Error::from)?;
        let segment = Segment { site: ctx.site.id, source, filters: &filters };
        let visitors = crate::funnel::visitors_per_step(&client, &segment, range, &steps).await?;
        let first = visitors.first().copied().unwrap_or(0);
        let steps = texts
            .into_iter()
            .zip(&visitors)
            .enumerate()
            .map(|(i, (step, &reached))| {
                let before = if i == 0 { reached } else { visitors[i - 1] };
                FunnelStep {
                    step,
                    visitors: reached,
                    conversion_rate: crate::kept::rate(reached, first),
                    dropoff: before - reached,
                    dropoff_rate: crate::kept::rate(before - reached, before),
                }
            })
            .collect();
        Ok(Funnel { from: range.from, to: range.to, steps })
    })
    .await
}
