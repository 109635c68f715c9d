//! Who may read which site: each site's dashboard token (stored as a hash,
//! compared in constant time) opens that site only.

use std::sync::Arc;

use actix_web::HttpRequest;
use analytics_store::sites::{Site, SiteDirectory, hash_token};
use subtle::ConstantTimeEq;

use crate::error::QueryError;

pub fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The site named by `site` (id or domain) if the request's token opens it:
/// 401 without a valid token, 403 for another site's token, 404 for no such site.
pub async fn authorize_site(request: &HttpRequest, sites: &SiteDirectory, site: &str) -> Result<Arc<Site>, QueryError> {
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
