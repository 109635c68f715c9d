//! `GET /api/analytics/overview/`: today, yesterday, this month, the last 30
//! days, the range asked for (`days`/`from`/`to`, default the last 30 days)
//! and all time, each with pageviews, visitors and events; the split by source
//! and the site's speed over that range.

use actix_web::{HttpRequest, HttpResponse, web};
use analytics_events::TrafficSource;
use chrono::{Datelike, Days, NaiveDate};

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::{Overview, PeriodTotals, RangeTotals, SiteSpeed, SourceTotals, Summary, VersionTotals};
use crate::error::QueryError;
use crate::figures::Figures;
use crate::params::{Comparison, DayRange, Params, allowed};
use crate::startup::AppState;
use crate::stats;

/// How many of the app's versions the overview lists.
const TOP_VERSIONS: i64 = 5;

/// Totals of the usual periods, by source and speed.
#[utoipa::path(
    get,
    path = "/api/analytics/overview/",
    params(crate::api::RangeParams),
    responses(
        (status = 200, description = "The answer", body = Overview),
        crate::api::SiteErrors,
    )
)]
pub async fn overview(
    request: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let ctx = SiteRequest::authorize(&request, &params, &state, allowed::RANGE).await?;
    let source = params.source()?;
    let compare = params.compare()?;
    let detail_range = params.range(ctx.today, 30)?;
    let filters = params.filters()?;
    let key = CacheKey::new("overview", ctx.today)
        .with("filter", &filters)
        .with("range", detail_range)
        .with("source", source.unwrap_or("all"))
        .with("compare", compare.map_or("none", Comparison::as_str));
    let today = ctx.today;
    let back = |n: u64| today.checked_sub_days(Days::new(n)).unwrap_or(NaiveDate::MIN);
    // today, yesterday, this month, the last 30 days, the range asked for,
    // and all time, which alone is never compared
    let periods = [
        DayRange { from: today, to: today },
        DayRange { from: back(1), to: back(1) },
        DayRange { from: today.with_day(1).unwrap_or(today), to: today },
        DayRange { from: back(29), to: today },
        detail_range,
        DayRange { from: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN), to: today },
    ];
    const ALL_TIME: usize = 5;
    cached(&request, &state, &ctx.site, true, key, Format::Json, async {
        let mut connection = super::connection(&state).await?;
        let snapshot = super::answer_snapshot(&mut connection, !filters.is_empty()).await?;
        let client = snapshot.client();
        let figures = Figures { client, site: &ctx.site, filters: &filters };
        let mut ranges = periods.to_vec();
        if let Some(comparison) = compare {
            ranges.extend(periods[..ALL_TIME].iter().map(|range| comparison.earlier(*range)));
        }
        let (totals, visits) = figures.totals_and_visits_per_range(&state.pool, &ranges, &periods, source).await?;
        let period = |i: usize| {
            PeriodTotals::new(totals[i], compare.and_then(|_| totals.get(i + periods.len()).copied()), visits[i])
        };
        let app = TrafficSource::App.as_str();
        let (versions, sources, speed) =
            figures.versions_sources_and_speed(&state.pool, detail_range, ctx.today, source, TOP_VERSIONS).await?;
        let mut versions = Some(
            versions
                .into_iter()
                .map(|r| VersionTotals { version: r.value, pageviews: r.pageviews, visitors: r.visitors })
                .collect(),
        );
        let by_source = sources
            .into_iter()
            .map(|r| SourceTotals {
                versions: if r.value == app { versions.take() } else { None },
                source: r.value,
                pageviews: r.pageviews,
                visitors: r.visitors,
            })
            .collect();
        let imported = stats::imports(client, ctx.site.id).await?;
        let site_speed = [analytics_events::speed::LOAD_MS, analytics_events::speed::RESPONSE_MS]
            .iter()
            .find_map(|metric| speed.iter().find(|r| r.path.is_none() && r.metric == *metric));
        Ok(Overview {
            site: ctx.site.id.to_string(),
            domain: ctx.site.domain.clone(),
            timezone: ctx.site.timezone.name().to_owned(),
            identity_window: "day".into(),
            today: period(0),
            yesterday: period(1),
            this_month: period(2),
            last_30_days: period(3),
            range: RangeTotals { from: detail_range.from, to: detail_range.to, totals: period(4) },
            total: PeriodTotals::new(totals[ALL_TIME], None, visits[ALL_TIME]),
            by_source,
            speed: SiteSpeed {
                metric: site_speed.map(|r| r.metric.clone()),
                summary: site_speed.map_or(Summary::new(0, 0, &[]), |r| Summary::new(r.count, r.sum_ms, &r.histogram)),
            },
            imported,
        })
    })
    .await
}
