//! `GET /api/analytics/chart/`: pageviews and visitors per day, week or month,
//! in the Gregorian or Persian calendar, oldest first, empty buckets as 0.

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::{Chart, ChartPoint, PeriodTotals};
use crate::calendar::{Bucket, Calendar, Period, buckets, buckets_between};
use crate::error::QueryError;
use crate::figures::Figures;
use crate::params::{Comparison, DayRange, Params, allowed, count, year_before};
use crate::startup::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Days, NaiveDate};

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
    params: Params,
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
    let filters = params.filters()?;
    // Either `from`/`to` (the buckets that cover it, cut to it) or the last
    // `n` buckets, the last one holding today.
    let explicit = match (&params.from, &params.to) {
        (None, None) => None,
        _ => Some(params.range(ctx.today, 30)?),
    };
    let points = match explicit {
        Some(range) => buckets_between(period, calendar, range),
        None => buckets(period, calendar, n as u32, ctx.today),
    };
    let previous =
        compare.map(|comparison| compared_ranges(&points, comparison, (period, calendar, n), ctx.today, explicit));
    let key = CacheKey::new("chart", ctx.today)
        .with("filter", &filters)
        .with("period", format!("{period:?}"))
        .with("span", explicit.map_or_else(|| n.to_string(), |range| range.to_string()))
        .with("calendar", format!("{calendar:?}"))
        .with("source", source.unwrap_or("all"))
        .with("compare", compare.map_or("none", Comparison::as_str));
    let format = Format::of(&params, "points")?;
    let live = explicit.is_none_or(|range| range.includes(ctx.today));
    cached(&request, &state, &ctx.site, live, key, format, async {
        let mut connection = super::connection(&state).await?;
        let snapshot = super::answer_snapshot(&mut connection, !filters.is_empty()).await?;
        let client = snapshot.client();
        let figures = Figures { client, site: &ctx.site, filters: &filters };
        let ranges: Vec<DayRange> = points.iter().map(|b| b.range).collect();
        let (totals, visits) = figures.totals_and_visits_per_range(&state.pool, &ranges, &ranges, source).await?;
        let previous = match &previous {
            Some(ranges) => Some(figures.totals_per_range(ranges, source).await?),
            None => None,
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

/// What each point is compared with. Counted back from today, as many whole
/// buckets again, ending just before the first (the previous period) or with
/// the one that held today a year ago. For `from`/`to`, the previous period
/// moves every bucket back by the whole range (point i meets the i-th bucket
/// of the range just before) and year over year takes each bucket's dates a
/// year earlier.
fn compared_ranges(
    points: &[Bucket],
    comparison: Comparison,
    shape: (Period, Calendar, u64),
    today: NaiveDate,
    explicit: Option<DayRange>,
) -> Vec<DayRange> {
    let Some(first) = points.first() else { return Vec::new() };
    let (period, calendar, n) = shape;
    let ranges = |buckets: Vec<Bucket>| buckets.into_iter().map(|b| b.range).collect();
    match (comparison, explicit) {
        (Comparison::PreviousPeriod, None) => {
            ranges(buckets(period, calendar, n as u32, first.range.from.pred_opt().unwrap_or(first.range.from)))
        }
        (Comparison::YearOverYear, None) => ranges(buckets(period, calendar, n as u32, year_before(today))),
        (Comparison::PreviousPeriod, Some(range)) => {
            let shift = Days::new(range.days() as u64);
            let back = |day: NaiveDate| day.checked_sub_days(shift).unwrap_or(NaiveDate::MIN);
            points.iter().map(|b| DayRange { from: back(b.range.from), to: back(b.range.to) }).collect()
        }
        (Comparison::YearOverYear, Some(_)) => points.iter().map(|b| b.range.year_before()).collect(),
    }
}

fn calendar_name(calendar: Calendar) -> &'static str {
    match calendar {
        Calendar::Gregorian => "gregorian",
        Calendar::Persian => "persian",
    }
}
