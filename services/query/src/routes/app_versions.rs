//! `GET /api/analytics/app-versions/`: the app's release health per version
//! over a range: requests, the share answered 4xx and 5xx, and response-time
//! percentiles, from the app events that report a response status.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::{AppVersionRow, AppVersions, Summary};
use crate::error::QueryError;
use crate::params::{Params, allowed};
use crate::startup::AppState;
use crate::stats;

/// Release health per app version, most requests first.
#[utoipa::path(
    get,
    path = "/api/analytics/app-versions/",
    params(crate::api::AppVersionParams, crate::api::FormatParam),
    responses(
        (status = 200, description = "The answer", body = AppVersions),
        crate::api::SiteErrors,
    )
)]
pub async fn app_versions(
    request: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state, allowed::APP_VERSIONS).await?;
    let range = params.range(ctx.today, 30)?;
    let limit = params.limit()?;
    let key = CacheKey::new("app-versions", ctx.today).with("range", range).with("limit", limit);
    let format = Format::of(&params, "results")?;
    cached(&request, &state, &ctx.site, range.includes(ctx.today), key, format, async {
        let client = super::connection(&state).await?;
        let rows = stats::app_versions(&client, ctx.site.id, range, limit).await?;
        let results = rows.into_iter().map(row).collect();
        Ok(AppVersions { from: range.from, to: range.to, results })
    })
    .await
}

fn row(health: stats::AppHealthRow) -> AppVersionRow {
    let rate =
        |part: i64| (health.requests > 0).then(|| (part as f64 * 1000.0 / health.requests as f64).round() / 10.0);
    AppVersionRow {
        client_error_rate: rate(health.client_errors),
        server_error_rate: rate(health.server_errors),
        response: Summary::new(health.timed, health.sum_ms, &health.histogram),
        requests: health.requests,
        version: health.version,
    }
}
