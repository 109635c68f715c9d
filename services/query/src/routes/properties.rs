//! `GET /api/analytics/properties/`: the custom property keys sent with the
//! range's events (`breakdown?dimension=prop:<key>` lists one key's values).

use actix_web::{HttpRequest, HttpResponse, web};

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::Properties;
use crate::error::QueryError;
use crate::kept::{self, Scope};
use crate::params::{Params, allowed};
use crate::startup::AppState;

/// Custom property keys, most used first.
#[utoipa::path(
    get,
    path = "/api/analytics/properties/",
    params(crate::api::RangeParams, crate::api::FormatParam),
    responses(
        (status = 200, description = "The answer", body = Properties),
        crate::api::SiteErrors,
    )
)]
pub async fn properties(
    request: HttpRequest,
    params: web::Query<Params>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state, allowed::KEPT).await?;
    let scope = Scope { site: ctx.site.id, range: params.range(ctx.today, 30)?, source: params.source()? };
    let limit = params.limit()?;
    let key = CacheKey::new("properties", ctx.today)
        .with("range", scope.range)
        .with("source", scope.source.unwrap_or("all"))
        .with("limit", limit);
    let format = Format::of(&params, "results")?;
    cached(&request, &state, &ctx.site, scope.range.includes(ctx.today), key, format, async {
        let client = state.pool.get().await.map_err(anyhow::Error::from)?;
        let results = kept::properties(&client, &scope, limit).await?;
        Ok(Properties { from: scope.range.from, to: scope.range.to, results })
    })
    .await
}
