//! `chart?period=hourly`: each local hour of up to seven local days, from
//! the hourly rollups (pageviews, visitors and events per hour; visits in the
//! hour they began), with the same figures as the daily points.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse};
use chrono::{Days, NaiveDate};

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::{Chart, ChartPoint, PeriodTotals, Totals};
use crate::error::QueryError;
use crate::figures::Figures;
use crate::params::{Comparison, DayRange, Params};
use crate::startup::AppState;
use crate::stats::{HourKey, VisitSums};

/// Most days one hourly chart covers.
pub const MAX_DAYS: u64 = 7;

/// The hourly chart of `params`' days (`days`, 1 to 7, default 1: today; or
/// `from`/`to` at most 7 days apart), in the site's time zone.
pub async fn answer(
    request: &HttpRequest,
    params: &Params,
    state: &AppState,
    ctx: SiteRequest,
    calendar: &'static str,
) -> Result<HttpResponse, QueryError> {
    let range = params.range(ctx.today, 1)?;
    if range.days() as u64 > MAX_DAYS {
        return Err(QueryError::BadParameter {
            name: if params.from.is_some() { "from" } else { "days" },
            reason: format!("an hourly chart covers at most {MAX_DAYS} days"),
        });
    }
    let source = params.source()?;
    let compare = params.compare()?;
    let filters = params.filters()?;
    let key = CacheKey::new("chart-hourly", ctx.today)
        .with("filter", &filters)
        .with("range", range)
        .with("source", source.unwrap_or("all"))
        .with("compare", compare.map_or("none", Comparison::as_str));
    let format = Format::of(params, "points")?;
    cached(request, state, &ctx.site, range.includes(ctx.today), key, format, async {
        let mut connection = super::connection(state).await?;
        let snapshot = super::answer_snapshot(&mut connection, !filters.is_empty()).await?;
        let client = snapshot.client();
        let figures = Figures { client, site: &ctx.site, filters: &filters };
        let (totals, visits) = figures.totals_and_visits_per_hour(&state.pool, range, source).await?;
        let previous = match compare {
            Some(comparison) => {
                let earlier = comparison.earlier(range);
                let totals = figures.totals_per_hour(earlier, source).await?;
                Some((earlier.from, totals))
            }
            None => None,
        };
        let totals_of = |rows: &HashMap<HourKey, Totals>, key: HourKey| rows.get(&key).copied().unwrap_or_default();
        let mut points = Vec::with_capacity(range.days() as usize * 24);
        for (offset, day) in days(range).enumerate() {
            // The compared period's day at the same position.
            let earlier = previous
                .as_ref()
                .map(|(first, rows)| (first.checked_add_days(Days::new(offset as u64)).unwrap_or(*first), rows));
            for hour in 0..24i16 {
                let before = earlier.map(|(day, rows)| totals_of(rows, (day, hour)));
                let visit_sums: VisitSums = visits.get(&(day, hour)).copied().unwrap_or_default();
                points.push(ChartPoint {
                    start: day,
                    end: day,
                    label: format!("{hour:02}:00"),
                    totals: PeriodTotals::new(totals_of(&totals, (day, hour)), before, visit_sums),
                });
            }
        }
        Ok(Chart {
            period: "hourly".into(),
            calendar: calendar.into(),
            timezone: ctx.site.timezone.name().into(),
            points,
        })
    })
    .await
}

fn days(range: DayRange) -> impl Iterator<Item = NaiveDate> {
    range.from.iter_days().take_while(move |day| *day <= range.to)
}
