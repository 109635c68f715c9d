//! `GET /api/analytics/chart/`: pageviews and visitors per day, week or month,
//! in the Gregorian or Persian calendar, oldest first, empty buckets as 0.

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::{Chart, ChartPoint, PeriodTotals};
use crate::calendar::{Calendar, Period, buckets};
use crate::error::QueryError;
use crate::params::{Comparison, DayRange, Params, allowed, count, year_before};
use crate::startup::AppState;
use crate::stats;
use actix_web::{HttpRequest, HttpResponse, web};

/// Pageviews and visitors per day, week or month, zero-filled, oldest first.
#[utoipa::path(
    get,
    path = "/api/analytics/chart/",
    params(crate::api::ChartParams, crate::api::FormatParam),
    responses(
        (status = 200, description = "The answer", body = Chart),
        crate::api::SiteErrors,
    )
)]
pub async fn chart(
    request: HttpRequest,
    params: web::Query<Params>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state, allowed::CHART).await?;
    let calendar = match params.calendar.as_deref().unwrap_or("gregorian") {
        "gregorian" => Calendar::Gregorian,
        "persian" => Calendar::Persian,
        other => {
            return Err(QueryError::BadParameter {
                name: "calendar",
                reason: format!("expected gregorian or persian, got {other:?}"),
            });
        }
    };
    let period_name = params.period.as_deref().unwrap_or("daily");
    if period_name == "hourly" {
        return super::hourly::answer(&request, &params, &state, ctx, calendar_name(calendar)).await;
    }
    if params.from.is_some() || params.to.is_some() {
        return Err(QueryError::BadParameter {
            name: "from",
            reason: "only an hourly chart takes from and to (the others count back from today)".into(),
        });
    }
    let (period, n) = match period_name {
        "daily" => (Period::Daily, count(&params.days, "days", 30, 3650)?),
        "weekly" => (Period::Weekly, count(&params.weeks, "weeks", 12, 520)?),
        "monthly" => (Period::Monthly, count(&params.months, "months", 6, 120)?),
        other => {
            return Err(QueryError::BadParameter {
                name: "period",
                reason: format!("expected hourly, daily, weekly or monthly, got {other:?}"),
            });
        }
    };
    let source = params.source()?;
    let compare = params.compare()?;
    let points = buckets(period, calendar, n as u32, ctx.today);
    let key = CacheKey::new("chart", ctx.today)
        .with("period", format!("{period:?}"))
        .with("n", n)
        .with("calendar", format!("{calendar:?}"))
        .with("source", source.unwrap_or("all"))
        .with("compare", compare.map_or("none", Comparison::as_str));
    let format = Format::of(&params, "points")?;
    cached(&request, &state, &ctx.site, true, key, format, async {
        let client = state.pool.get().await.map_err(anyhow::Error::from)?;
        let ranges: Vec<DayRange> = points.iter().map(|b| b.range).collect();
        let totals = stats::totals_per_range(&client, ctx.site.id, &ranges, source).await?;
        let visits = stats::visits_per_range(&client, ctx.site.id, &ranges, source).await?;
        // As many buckets again, ending just before the first (the previous
        // period) or a year before today (year over year).
        let previous = match (compare, points.first()) {
            (Some(comparison), Some(first)) => {
                let end = match comparison {
                    Comparison::PreviousPeriod => first.range.from.pred_opt().unwrap_or(first.range.from),
                    Comparison::YearOverYear => year_before(ctx.today),
                };
                let earlier = buckets(period, calendar, n as u32, end);
                let ranges: Vec<DayRange> = earlier.iter().map(|b| b.range).collect();
                Some(stats::totals_per_range(&client, ctx.site.id, &ranges, source).await?)
            }
            _ => None,
        };
        let points = points
            .iter()
            .zip(totals.iter().zip(&visits))
            .enumerate()
            .map(|(i, (bucket, (t, v)))| {
                let previous = previous.as_ref().and_then(|p| p.get(i)).copied();
                ChartPoint {
                    start: bucket.range.from,
                    end: bucket.range.to,
                    label: bucket.label.clone(),
                    totals: PeriodTotals::new(*t, previous, *v),
                }
            })
            .collect();
        let period = match period {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        };
        Ok(Chart {
            period: period.into(),
            calendar: calendar_name(calendar).into(),
            timezone: ctx.site.timezone.name().into(),
            points,
        })
    })
    .await
}

fn calendar_name(calendar: Calendar) -> &'static str {
    match calendar {
        Calendar::Gregorian => "gregorian",
        Calendar::Persian => "persian",
    }
}
