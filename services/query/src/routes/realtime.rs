//! `GET /api/analytics/realtime/`: visitors seen in the last five minutes,
//! from the aggregator's per-minute visitor sketches (fresh within a commit).
//! Never cached: it is only worth asking because it changes.

use actix_web::{HttpRequest, HttpResponse, web};

use super::SiteRequest;
use crate::error::QueryError;
use crate::params::Params;
use crate::startup::AppState;

const WINDOW_SECONDS: i64 = 300;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Realtime {
    pub site: String,
    /// Distinct visitor ids with an event in the window's minutes.
    pub visitors: i64,
    pub window_seconds: i64,
}

/// Visitors in the last five minutes.
#[utoipa::path(
    get,
    path = "/api/analytics/realtime/",
    params(
        ("site" = String, Query, description = "Site id or domain"),
        ("filter" = Option<Vec<String>>, Query, description = "A segment: <dimension>==<value> (or != or ~=), repeatable"),
    ),
    responses(
        (status = 200, description = "The answer", body = Realtime),
        crate::api::SiteErrors,
    )
)]
pub async fn realtime(
    request: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state, crate::params::allowed::REALTIME).await?;
    let filters = params.filters()?;
    let mut connection = super::connection(&state).await?;
    let snapshot = super::answer_snapshot(&mut connection, !filters.is_empty()).await?;
    let client = snapshot.client();
    let visitors = match filters.is_empty() {
        true => crate::stats::live_visitors(client, ctx.site.id, WINDOW_SECONDS).await?,
        false => {
            let segment = crate::kept::Segment { site: ctx.site.id, source: None, filters: &filters };
            crate::kept::live_visitors(client, &segment, WINDOW_SECONDS).await?
        }
    };
    Ok(HttpResponse::Ok().json(Realtime { site: ctx.site.id.to_string(), visitors, window_seconds: WINDOW_SECONDS }))
}
