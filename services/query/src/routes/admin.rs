//! `POST /api/analytics/clear-cache/` (admin token): one INCR of the cache
//! generation, whatever the number of cached answers.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::QueryError;
use crate::startup::AppState;

/// Makes every cached answer stale at once (admin token).
#[utoipa::path(
    post,
    path = "/api/analytics/clear-cache/",
    responses(
        (status = 200, description = "The answer", body = crate::api::Cleared),
        (status = 401, description = "Missing or invalid token", body = crate::api::ErrorBody),
        (status = 403, description = "A site token, not the admin token", body = crate::api::ErrorBody),
    )
)]
pub async fn clear_cache(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, QueryError> {
    crate::auth::authorize_admin(&request, &state).await?;
    let generation = state.cache.clear().await.map_err(|e| QueryError::Internal(e.into()))?;
    Ok(HttpResponse::Ok().json(crate::api::Cleared { cleared: true, generation }))
}
