//! One module per dashboard endpoint. Each one authorises the site, checks
//! its parameters, and answers through the response cache.

pub mod admin;
pub mod app_versions;
pub mod chart;
pub mod funnel;
pub mod goals;
pub mod hourly;
pub mod overview;
pub mod properties;
pub mod realtime;
pub mod sites;
pub mod speed;
pub mod table;
pub mod top;

use std::future::Future;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse};
use analytics_store::sites::Site;
use chrono::NaiveDate;

use crate::error::QueryError;
use crate::params::Params;
use crate::startup::AppState;

/// The answer's snapshot (`analytics_store::snapshot`), set up for kept
/// events when it reads them (`kept`, see [`crate::kept::without_jit`]).
pub async fn answer_snapshot(
    connection: &mut deadpool_postgres::Object,
    kept: bool,
) -> Result<deadpool_postgres::Transaction<'_>, QueryError> {
    let snapshot = analytics_store::snapshot(connection).await?;
    if kept {
        crate::kept::without_jit(&snapshot).await?;
    }
    Ok(snapshot)
}

/// A connection from the pool.
pub async fn connection(state: &AppState) -> Result<deadpool_postgres::Object, QueryError> {
    Ok(state.pool.get().await.map_err(anyhow::Error::from)?)
}

/// What every site endpoint starts from: the authorised site and its local today.
pub struct SiteRequest {
    pub site: Arc<Site>,
    pub today: NaiveDate,
}

impl SiteRequest {
    /// Checks the token for the site asked, then that the request has no
    /// parameter but `allowed` (so a bad token is a 401 whatever else).
    pub async fn authorize(
        request: &HttpRequest,
        params: &Params,
        state: &AppState,
        allowed: &[&str],
    ) -> Result<Self, QueryError> {
        let site_param = params
            .site
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(QueryError::BadParameter { name: "site", reason: "required (a site id or domain)".into() })?;
        // Per token (whatever it is worth), before any lookup: a dashboard
        // loads a dozen answers at once, a loop far more.
        let token = crate::auth::bearer(request).map(analytics_store::sites::hash_token).unwrap_or_default();
        state.limiter.check(token).map_err(|wait| {
            state.rate_limited.inc();
            QueryError::RateLimited(wait)
        })?;
        let site = crate::auth::authorize_site(request, state, site_param).await?;
        params.only(allowed)?;
        let today = state.clock.today(site.timezone);
        Ok(Self { site, today })
    }
}

/// What an answer depends on, parsed and normalised: the cache key. Each
/// endpoint builds it from its typed parameters (its range as dates, its
/// limit as a number), never from the raw query string, so spellings of one
/// request share one entry and nothing a caller adds makes a new one.
pub struct CacheKey(String);

impl CacheKey {
    pub fn new(endpoint: &str, today: NaiveDate) -> Self {
        Self(format!("{endpoint}?today={today}"))
    }

    pub fn with(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        use std::fmt::Write;
        let _ = write!(self.0, "&{name}={value}");
        self
    }
}

/// Answers from the cache when it holds this request's answer, else computes,
/// stores (short TTL when the answer covers today, long when the range is
/// closed) and answers; the site's token was checked before this is reached.
/// A request with `X-Skip-Cache: 1` bypasses the cache: it neither reads nor
/// replaces what others are served. (Not `Cache-Control: no-cache`: fetch
/// clients add that to every request made with `cache: "no-store"`, the
/// panel's among them, which would turn the cache off.)
pub async fn cached<F, T>(
    request: &HttpRequest,
    state: &AppState,
    site: &Site,
    live: bool,
    key: CacheKey,
    format: Format,
    compute: F,
) -> Result<HttpResponse, QueryError>
where
    F: Future<Output = Result<T, QueryError>>,
    T: serde::Serialize,
{
    let (body, cache) = if skips_cache(request) {
        (serde_json::to_string(&compute.await?).map_err(|e| QueryError::Internal(e.into()))?, "bypass")
    } else {
        let key = format!("{}:{}", site.id, key.0);
        let lookup = state.cache.get(&key).await;
        match lookup.as_ref().and_then(|l| l.hit.clone()) {
            Some(body) => (body, "hit"),
            None => {
                let body = serde_json::to_string(&compute.await?).map_err(|e| QueryError::Internal(e.into()))?;
                let ttl = if live { state.cache.live_ttl } else { state.cache.closed_ttl };
                if let Some(lookup) = lookup.filter(|_| !ttl.is_zero()) {
                    state.cache.put(&lookup.generation, &key, &body, ttl).await;
                }
                (body, "miss")
            }
        }
    };
    // The cache holds the JSON either way: CSV is made from it on the way out.
    match format {
        Format::Json => Ok(json_response(body, cache)),
        Format::Csv { rows } => {
            let csv = crate::csv::rows_to_csv(&body, rows).map_err(|e| QueryError::Internal(e.into()))?;
            Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").insert_header(("X-Cache", cache)).body(csv))
        }
    }
}

/// How an answer is sent: the JSON document, or the rows under one of its
/// fields as CSV (`format=csv`, see [`crate::csv`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Json,
    Csv { rows: &'static str },
}

impl Format {
    /// CSV of the rows under `rows` when the request asks for it.
    pub fn of(params: &Params, rows: &'static str) -> Result<Self, QueryError> {
        Ok(if params.csv()? { Format::Csv { rows } } else { Format::Json })
    }
}

fn skips_cache(request: &HttpRequest) -> bool {
    request.headers().get(SKIP_CACHE_HEADER).is_some_and(|v| v.as_bytes() == b"1")
}

/// The request header that bypasses the response cache (see [`cached`]).
pub const SKIP_CACHE_HEADER: &str = "x-skip-cache";

fn json_response(body: String, cache: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").insert_header(("X-Cache", cache)).body(body)
}
