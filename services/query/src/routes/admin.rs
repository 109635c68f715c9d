//! `POST /api/analytics/clear-cache/` (admin token): one INCR of the cache
//! generation, whatever the number of cached answers.

use actix_web::{HttpRequest, HttpResponse, web};
use subtle::ConstantTimeEq;

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
    authorize_admin(&request, &state).await?;
    let generation = state.cache.clear().await.map_err(|e| QueryError::Internal(e.into()))?;
    Ok(HttpResponse::Ok().json(crate::api::Cleared { cleared: true, generation }))
}

async fn authorize_admin(request: &HttpRequest, state: &AppState) -> Result<(), QueryError> {
    let expected = state.admin_token.as_deref().ok_or(QueryError::Unauthorized)?;
    let sent = crate::auth::bearer(request).ok_or(QueryError::Unauthorized)?;
    if bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else if state.sites.by_token_hash(&analytics_store::sites::hash_token(sent)).await.is_some() {
        Err(QueryError::AdminOnly)
    } else {
        Err(QueryError::Unauthorized)
    }
}
