//! `GET /api/analytics/speed/`: response time, time to first byte and page
//! load time for the whole site and its most-viewed timed pages, each as
//! count, mean, p50 and p95 from the merged histograms.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::{PageSpeed, Speed, Summary, Timings};
use crate::error::QueryError;
use crate::figures::Figures;
use crate::params::{Comparison, Params, allowed};
use crate::startup::AppState;

/// Site-wide and per-page timings.
#[utoipa::path(
    get,
    path = "/api/analytics/speed/",
    params(crate::api::RangeParams, crate::api::FormatParam),
    responses(
        (status = 200, description = "The answer", body = Speed),
        crate::api::SiteErrors,
    )
)]
pub async fn speed(
    request: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state, allowed::TABLE).await?;
    let range = params.range(ctx.today, 30)?;
    let source = params.source()?;
    let limit = params.limit()?;
    let compare = params.compare()?;
    let filters = params.filters()?;
    let key = CacheKey::new("speed", ctx.today)
        .with("filter", &filters)
        .with("range", range)
        .with("source", source.unwrap_or("all"))
        .with("limit", limit)
        .with("compare", compare.map_or("none", Comparison::as_str));
    let format = Format::of(&params, "pages")?;
    cached(&request, &state, &ctx.site, range.includes(ctx.today), key, format, async {
        let mut connection = super::connection(&state).await?;
        let snapshot = super::answer_snapshot(&mut connection, !filters.is_empty()).await?;
        let client = snapshot.client();
        let figures = Figures { client, site: &ctx.site, filters: &filters };
        let mut overall = Timings::default();
        let mut pages: BTreeMap<String, Timings> = BTreeMap::new();
        for row in figures.speed(range, ctx.today, source, limit).await? {
            let summary = Summary::new(row.count, row.sum_ms, &row.histogram);
            match row.path {
                None => overall.set(&row.metric, summary),
                Some(path) => pages.entry(path).or_default().set(&row.metric, summary),
            }
        }
        let mut pages: Vec<PageSpeed> = pages.into_iter().map(|(path, timings)| PageSpeed { path, timings }).collect();
        pages.sort_by_key(|p| std::cmp::Reverse(p.timings.views()));
        // The site's figures over the compared range (pages are not compared).
        let previous = match compare {
            Some(comparison) => {
                let earlier = comparison.earlier(range);
                let mut timings = Timings::default();
                for row in figures.speed(earlier, ctx.today, source, 0).await? {
                    if row.path.is_none() {
                        timings.set(&row.metric, Summary::new(row.count, row.sum_ms, &row.histogram));
                    }
                }
                Some(timings)
            }
            None => None,
        };
        Ok(Speed { from: range.from, to: range.to, overall, previous, pages })
    })
    .await
}
