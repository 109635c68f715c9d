//! `GET /api/analytics/properties/`: the custom property keys sent with the
//! range's events (`breakdown?dimension=prop:<key>` lists one key's values).

use actix_web::{HttpRequest, HttpResponse, web};

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::Properties;
use crate::error::QueryError;
use crate::kept::{self, Segment};
use crate::params::{Params, allowed};
use crate::startup::AppState;

/// Custom property keys, most used first.
#[utoipa::path(
    get,
    path = "/api/analytics/properties/",
    params(crate::api::KeptParams, crate::api::FormatParam),
    responses(
        (status = 200, description = "The answer", body = Properties),
        crate::api::SiteErrors,
    )
)]
pub async fn properties(
    request: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state, allowed::KEPT).await?;
    let (range, source, filters) = (params.range(ctx.today, 30)?, params.source()?, params.filters()?);
    let limit = params.limit()?;
    let key = CacheKey::new("properties", ctx.today)
        .with("filter", &filters)
        .with("range", range)
        .with("source", source.unwrap_or("all"))
        .with("limit", limit);
    let format = Format::of(&params, "results")?;
    cached(&request, &state, &ctx.site, range.includes(ctx.today), key, format, async {
        let mut connection = super::connection(&state).await?;
        let snapshot = super::answer_snapshot(&mut connection, true).await?;
        let client = snapshot.client();
        let segment = Segment { site: ctx.site.id, source, filters: &filters };
        let results = kept::properties(client, &segment, range, limit).await?;
        Ok(Properties { from: range.from, to: range.to, results })
    })
    .await
}
