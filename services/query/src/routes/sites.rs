//! `GET /api/analytics/sites/` (admin token): every site, for the panel's
//! site switcher.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::api::SiteEntry;
use crate::error::QueryError;
use crate::startup::AppState;

/// Every site: id, domain and time zone, by domain.
#[utoipa::path(
    get,
    path = "/api/analytics/sites/",
    responses(
        (status = 200, description = "The answer", body = Vec<SiteEntry>),
        (status = 401, description = "Missing or invalid token", body = crate::api::ErrorBody),
        (status = 403, description = "A site token, not the admin token", body = crate::api::ErrorBody),
    )
)]
pub async fn sites(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, QueryError> {
    crate::auth::authorize_admin(&request, &state).await?;
    let client = super::connection(&state).await?;
    let mut sites = analytics_store::sites::list_sites(&client).await.map_err(anyhow::Error::from)?;
    sites.sort_by(|a, b| a.domain.cmp(&b.domain));
    let entries: Vec<SiteEntry> = sites
        .into_iter()
        .map(|s| SiteEntry { id: s.id.to_string(), domain: s.domain, timezone: s.timezone.name().to_owned() })
        .collect();
    Ok(HttpResponse::Ok().json(entries))
}
