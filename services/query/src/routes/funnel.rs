//! `GET /api/analytics/funnel/?step=...&step=...` (or `?name=` of a saved
//! funnel): how many visitors went through each step of a funnel, in order,
//! within the range; `GET /api/analytics/funnels/`: the saved funnels.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::{Funnel, FunnelStep, SavedFunnel, SavedFunnels};
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
    let (range, source, filters) = (params.range(ctx.today, 30)?, params.source()?, params.filters()?);
    let mut connection = super::connection(&state).await?;
    let snapshot = super::answer_snapshot(&mut connection, true).await?;
    let client = snapshot.client();
    let (name, steps) = asked_steps(client, ctx.site.id, &params).await?;
    let texts: Vec<String> = steps.iter().map(|s| s.text()).collect();
    // A saved funnel's steps are part of the key: changed, they count at once.
    let asked = serde_json::to_string(&(&name, &texts)).unwrap_or_default();
    let key = CacheKey::new("funnel", ctx.today)
        .with("filter", &filters)
        .with("range", range)
        .with("source", source.unwrap_or("all"))
        .with("steps", blake3::hash(asked.as_bytes()).to_hex());
    cached(&request, &state, &ctx.site, range.includes(ctx.today), key, Format::Json, async {
        let segment = Segment { site: ctx.site.id, source, filters: &filters };
        let visitors = crate::funnel::visitors_per_step(client, &segment, range, &steps).await?;
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
        Ok(Funnel { from: range.from, to: range.to, name, steps })
    })
    .await
}

/// The funnel asked for: its `step` parameters, or a saved funnel's steps
/// and name by `name`.
async fn asked_steps(
    client: &tokio_postgres::Client,
    site: uuid::Uuid,
    params: &Params,
) -> Result<(Option<String>, Vec<crate::funnel::Step>), QueryError> {
    let bad = |reason: String| QueryError::BadParameter { name: "name", reason };
    match (&params.name, &params.step) {
        (Some(_), Some(_)) => Err(bad("a saved funnel's name or its steps, not both".into())),
        (Some(name), None) => {
            let saved = analytics_store::funnels::find(client, site, name).await.map_err(anyhow::Error::from)?;
            let shown = analytics_events::clean::truncate(name, 100);
            let saved = saved
                .ok_or_else(|| bad(format!("no saved funnel {shown:?} (GET /api/analytics/funnels/ lists them)")))?;
            Ok((Some(saved.name), crate::funnel::parse(&saved.steps)?))
        }
        (None, steps) => Ok((None, crate::funnel::parse(steps.as_deref().unwrap_or_default())?)),
    }
}

/// The site's saved funnels, by name.
#[utoipa::path(
    get,
    path = "/api/analytics/funnels/",
    params(crate::api::SiteParam),
    responses(
        (status = 200, description = "The answer", body = SavedFunnels),
        crate::api::SiteErrors,
    )
)]
pub async fn saved(
    request: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state, allowed::SITE).await?;
    let client = super::connection(&state).await?;
    let saved = analytics_store::funnels::list(&client, ctx.site.id).await.map_err(anyhow::Error::from)?;
    let results = saved.into_iter().map(|f| SavedFunnel { name: f.name, steps: f.steps }).collect();
    Ok(HttpResponse::Ok().json(SavedFunnels { results }))
}
