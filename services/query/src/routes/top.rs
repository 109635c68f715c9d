//! `top-pages`, `top-countries` and `breakdown`: the top values of one
//! dimension over a range, with pageviews, visitors and events.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{SiteRequest, cached};
use crate::error::QueryError;
use crate::params::Params;
use crate::startup::AppState;
use crate::stats;

/// Dimensions of `breakdown`; `page` and `country` also have their own endpoints.
pub const DIMENSIONS: [&str; 13] = [
    "source",
    "device",
    "browser",
    "browser_version",
    "os",
    "referrer",
    "referrer_source",
    "country",
    "page",
    "event",
    "utm_source",
    "utm_medium",
    "utm_campaign",
];

pub async fn top_pages(
    request: HttpRequest,
    params: web::Query<Params>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    respond(request, params, state, Some("page")).await
}

pub async fn top_countries(
    request: HttpRequest,
    params: web::Query<Params>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    respond(request, params, state, Some("country")).await
}

pub async fn breakdown(
    request: HttpRequest,
    params: web::Query<Params>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    respond(request, params, state, None).await
}

async fn respond(
    request: HttpRequest,
    params: web::Query<Params>,
    state: web::Data<AppState>,
    fixed: Option<&'static str>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state).await?;
    let dimension = match fixed {
        Some(dimension) => dimension,
        None => {
            let asked = params.dimension.as_deref().unwrap_or_default();
            DIMENSIONS.iter().copied().find(|d| *d == asked).ok_or_else(|| QueryError::BadParameter {
                name: "dimension",
                reason: format!("expected one of {}, got {asked:?}", DIMENSIONS.join(", ")),
            })?
        }
    };
    let range = params.range(ctx.today, 30)?;
    let source = params.source()?;
    let limit = params.limit()?;
    cached(&request, &state, &ctx.site, range.includes(ctx.today), async {
        let client = state.pool.get().await.map_err(anyhow::Error::from)?;
        let rows = if dimension == "source" {
            let mut rows = stats::by_source(&client, ctx.site.id, range).await?;
            rows.retain(|r| source.is_none_or(|s| s == r.value));
            rows.truncate(limit as usize);
            rows
        } else {
            stats::top(&client, ctx.site.id, dimension, range, source, limit).await?
        };
        let results: Vec<serde_json::Value> = match fixed {
            Some("page") => {
                let paths: Vec<&str> = rows.iter().map(|r| r.value.as_str()).collect();
                let titles = stats::titles(&client, ctx.site.id, &paths).await?;
                rows.iter()
                    .map(|r| {
                        json!({
                            "path": r.value, "title": titles.get(&r.value).cloned().unwrap_or_default(),
                            "pageviews": r.pageviews, "visitors": r.visitors, "events": r.events,
                        })
                    })
                    .collect()
            }
            Some(_) => rows
                .iter()
                .map(|r| {
                    json!({
                        "country": r.value, "name": crate::countries::name(&r.value),
                        "pageviews": r.pageviews, "visitors": r.visitors, "events": r.events,
                    })
                })
                .collect(),
            None => rows.iter().map(|r| json!(r)).collect(),
        };
        let mut body = json!({ "from": range.from, "to": range.to, "results": results });
        if fixed.is_none() {
            body["dimension"] = json!(dimension);
        }
        Ok(body)
    })
    .await
}
