//! One module per dashboard endpoint. Each one authorises the site, checks
//! its parameters, and answers through the response cache.

pub mod admin;
pub mod chart;
pub mod overview;
pub mod realtime;
pub mod speed;
pub mod top;

use std::future::Future;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse};
use analytics_store::sites::Site;
use chrono::{NaiveDate, Utc};

use crate::error::QueryError;
use crate::params::Params;
use crate::startup::AppState;

/// What every site endpoint starts from: the authorised site and its local today.
pub struct SiteRequest {
    pub site: Arc<Site>,
    pub today: NaiveDate,
}

impl SiteRequest {
    pub async fn authorize(request: &HttpRequest, params: &Params, state: &AppState) -> Result<Self, QueryError> {
        let site_param = params
            .site
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(QueryError::BadParameter { name: "site", reason: "required (a site id or domain)".into() })?;
        let site = crate::auth::authorize_site(request, &state.sites, site_param).await?;
        let today = Utc::now().with_timezone(&site.timezone).date_naive();
        Ok(Self { site, today })
    }
}

/// Answers from the cache when it holds this request's answer, else computes,
/// stores (short TTL when the answer covers today, long when the range is
/// closed) and answers. The key is the site and the request's parameters in
/// a fixed order; the site's token was checked before this is reached.
pub async fn cached<F, T>(
    request: &HttpRequest,
    state: &AppState,
    site: &Site,
    live: bool,
    compute: F,
) -> Result<HttpResponse, QueryError>
where
    F: Future<Output = Result<T, QueryError>>,
    T: serde::Serialize,
{
    let mut pairs: Vec<&str> = request.query_string().split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    let key = format!("{}:{}?{}", site.id, request.path().trim_end_matches('/'), pairs.join("&"));
    let lookup = state.cache.get(&key).await;
    if let Some(body) = lookup.as_ref().and_then(|l| l.hit.clone()) {
        return Ok(json_response(body, "hit"));
    }
    let body = serde_json::to_string(&compute.await?).map_err(|e| QueryError::Internal(e.into()))?;
    let ttl = if live { state.cache.live_ttl } else { state.cache.closed_ttl };
    if let Some(lookup) = lookup.filter(|_| !ttl.is_zero()) {
        state.cache.put(&lookup.generation, &key, &body, ttl).await;
    }
    Ok(json_response(body, "miss"))
}

fn json_response(body: String, cache: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").insert_header(("X-Cache", cache)).body(body)
}
