//! Who may read which site: each site's dashboard token (stored as a hash,
//! compared in constant time) opens that site only; the admin token, the
//! operator's key, opens every site and the admin endpoints.

use std::sync::Arc;

use actix_web::HttpRequest;
use analytics_store::sites::{Site, hash_token};
use subtle::ConstantTimeEq;

use crate::error::QueryError;
use crate::startup::AppState;

pub fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Whether the request carries the admin token (none is configured: never).
pub fn is_admin(request: &HttpRequest, admin_token: Option<&str>) -> bool {
    match (bearer(request), admin_token) {
        (Some(sent), Some(expected)) => bool::from(sent.as_bytes().ct_eq(expected.as_bytes())),
        _ => false,
    }
}

/// Lets the admin token through: 401 without a valid token, 403 for a site's.
pub async fn authorize_admin(request: &HttpRequest, state: &AppState) -> Result<(), QueryError> {
    if is_admin(request, state.admin_token.as_deref()) {
        return Ok(());
    }
    let sent = bearer(request).ok_or(QueryError::Unauthorized)?;
    match state.sites.by_token_hash(&hash_token(sent)).await {
        Some(_) => Err(QueryError::AdminOnly),
        None => Err(QueryError::Unauthorized),
    }
}

/// The site named by `site` (id or domain) if the request's token opens it:
/// 401 without a valid token, 403 for another site's token, 404 for no such
/// site. The admin token opens every site.
pub async fn authorize_site(request: &HttpRequest, state: &AppState, site: &str) -> Result<Arc<Site>, QueryError> {
    let sites = &state.sites;
    if is_admin(request, state.admin_token.as_deref()) {
        return sites.resolve(site).await.ok_or_else(|| QueryError::UnknownSite(site.to_owned()));
    }
    let token_hash = hash_token(bearer(request).ok_or(QueryError::Unauthorized)?);
    let target = sites.resolve(site).await;
    if let Some(target) = &target
        && bool::from(target.api_token_hash.ct_eq(&token_hash))
    {
        return Ok(target.clone());
    }
    match (sites.by_token_hash(&token_hash).await, target) {
        (None, _) => Err(QueryError::Unauthorized),
        (Some(_), None) => Err(QueryError::UnknownSite(site.to_owned())),
        (Some(_), Some(_)) => Err(QueryError::Forbidden(site.to_owned())),
    }
}
