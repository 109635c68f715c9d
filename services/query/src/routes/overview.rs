//! `GET /api/analytics/overview/`: today, yesterday, this month, the last 30
//! days and all time, each with pageviews, visitors and events; the split by
//! source and the site's speed over the last 30 days (or `days`/`from`/`to`).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Datelike, Days, NaiveDate};
use serde_json::json;

use super::{SiteRequest, cached, change_percent};
use crate::error::QueryError;
use crate::params::{DayRange, Params};
use crate::speed::Summary;
use crate::startup::AppState;
use crate::stats::{self, Totals};

const PERIODS: [&str; 5] = ["today", "yesterday", "this_month", "last_30_days", "total"];

pub async fn overview(
    request: HttpRequest,
    params: web::Query<Params>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state).await?;
    let source = params.source()?;
    let compare = params.compare()?;
    let detail_range = params.range(ctx.today, 30)?;
    let today = ctx.today;
    let back = |n: u64| today.checked_sub_days(Days::new(n)).unwrap_or(NaiveDate::MIN);
    let ranges = [
        DayRange { from: today, to: today },
        DayRange { from: back(1), to: back(1) },
        DayRange { from: today.with_day(1).unwrap_or(today), to: today },
        DayRange { from: back(29), to: today },
        DayRange { from: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN), to: today },
    ];
    cached(&request, &state, &ctx.site, true, async {
        let client = state.pool.get().await.map_err(anyhow::Error::from)?;
        let mut all_ranges = ranges.to_vec();
        if compare {
            all_ranges.extend(ranges[..4].iter().map(DayRange::previous));
        }
        let totals = stats::totals_per_range(&client, ctx.site.id, &all_ranges, source).await?;
        let mut body = json!({
            "site": ctx.site.id,
            "domain": ctx.site.domain,
            "timezone": ctx.site.timezone.name(),
            "identity_window": "day",
        });
        for (i, name) in PERIODS.iter().enumerate() {
            body[*name] = period_json(totals[i], compare.then(|| totals.get(i + 5).copied()).flatten());
        }
        let by_source: Vec<serde_json::Value> = stats::by_source(&client, ctx.site.id, detail_range)
            .await?
            .into_iter()
            .map(|r| json!({ "source": r.value, "pageviews": r.pageviews, "visitors": r.visitors }))
            .collect();
        body["by_source"] = by_source.into();
        let speed = stats::speed(&client, ctx.site.id, detail_range, source, 0).await?;
        let site_speed = speed
            .iter()
            .find(|r| r.path.is_none() && r.metric == "load_ms")
            .or_else(|| speed.iter().find(|r| r.path.is_none() && r.metric == "response_ms"));
        // Page load time as browsers measured it; server response time when
        // only a backend reports timings.
        body["speed"] = match site_speed {
            Some(r) => json!(Summary::new(r.count, r.sum_ms, &r.histogram)),
            None => json!(Summary::new(0, 0, &[])),
        };
        body["speed"]["metric"] = json!(site_speed.map(|r| r.metric.as_str()));
        Ok(body)
    })
    .await
}

fn period_json(current: Totals, previous: Option<Totals>) -> serde_json::Value {
    let mut value = json!(current);
    if let Some(previous) = previous {
        value["previous"] = json!(previous);
        value["change_percent"] = json!({
            "pageviews": change_percent(current.pageviews, previous.pageviews),
            "visitors": change_percent(current.visitors, previous.visitors),
            "events": change_percent(current.events, previous.events),
        });
    }
    value
}
