//! The JSON shapes of the dashboard API. Handlers build these types and the
//! OpenAPI document (`/openapi.json`) is generated from them, so the spec
//! cannot drift from what is served.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

pub use crate::speed::Summary;
pub use crate::stats::{Row, Totals};

/// Change in percent from the previous period; `null` when that was zero.
#[derive(Debug, Serialize, ToSchema)]
pub struct Change {
    pub pageviews: Option<f64>,
    pub visitors: Option<f64>,
    pub events: Option<f64>,
}

impl Change {
    pub fn between(current: &Totals, previous: &Totals) -> Self {
        Self {
            pageviews: change_percent(current.pageviews, previous.pageviews),
            visitors: change_percent(current.visitors, previous.visitors),
            events: change_percent(current.events, previous.events),
        }
    }
}

/// A row's figures in the previous period and the change since, present only
/// with `compare=previous_period`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Comparison {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Totals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_percent: Option<Change>,
}

impl Comparison {
    pub fn between(current: &Totals, previous: Totals) -> Self {
        Self { change_percent: Some(Change::between(current, &previous)), previous: Some(previous) }
    }
}

/// Change from `previous` to `current` in percent, one decimal; `None` from zero.
fn change_percent(current: i64, previous: i64) -> Option<f64> {
    (previous != 0).then(|| ((current - previous) as f64 * 1000.0 / previous as f64).round() / 10.0)
}

/// Visits and how engaged they were. Rates are `null` when there were no visits.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Engagement {
    /// Runs of one visitor's events without a gap over the site's visit gap
    /// (30 minutes by default), counted on the local day they began.
    pub visits: i64,
    /// Percent of visits with at most one pageview, one decimal.
    pub bounce_rate: Option<f64>,
    /// Mean seconds from a visit's first to its last event.
    pub visit_duration: Option<f64>,
    /// Mean pageviews per visit, two decimals.
    pub views_per_visit: Option<f64>,
}

impl Engagement {
    pub fn from_sums(sums: crate::stats::VisitSums) -> Self {
        let visits = sums.visits;
        let per_visit = |value: f64, scale: f64| (visits > 0).then(|| (value * scale / visits as f64).round() / scale);
        Self {
            visits,
            bounce_rate: per_visit(sums.bounces as f64 * 100.0, 10.0),
            visit_duration: per_visit(sums.duration_ms as f64 / 1000.0, 10.0),
            views_per_visit: per_visit(sums.pageviews as f64, 100.0),
        }
    }
}

/// Totals, with the previous period's and the change when
/// `compare=previous_period` was asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodTotals {
    #[serde(flatten)]
    pub totals: Totals,
    #[serde(flatten)]
    pub engagement: Engagement,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Totals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_percent: Option<Change>,
}

impl PeriodTotals {
    pub fn new(totals: Totals, previous: Option<Totals>, visits: crate::stats::VisitSums) -> Self {
        let change_percent = previous.as_ref().map(|p| Change::between(&totals, p));
        Self { totals, engagement: Engagement::from_sums(visits), previous, change_percent }
    }
}

/// The errors every site endpoint may answer, each a one-line JSON error.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum SiteErrors {
    /// A parameter is invalid; the error names it.
    #[response(status = 400)]
    BadParameter(ErrorBody),
    /// Missing or invalid token.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// Another site's token.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// Unknown site.
    #[response(status = 404)]
    UnknownSite(ErrorBody),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceTotals {
    /// The traffic source, as the `source` parameter names it.
    pub source: String,
    pub pageviews: i64,
    pub visitors: i64,
    /// For `app`: its most used versions, most pageviews first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<VersionTotals>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionTotals {
    pub version: String,
    pub pageviews: i64,
    pub visitors: i64,
}

/// Site speed: page load time measured by browsers (`load_ms`), or the
/// server's response time (`response_ms`) when only a backend reports timings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteSpeed {
    pub metric: Option<String>,
    #[serde(flatten)]
    pub summary: Summary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub site: String,
    pub domain: String,
    /// The IANA zone all days are counted in.
    pub timezone: String,
    /// Visitor ids rotate with this window (`day`): visitors over longer
    /// ranges are unions of daily ids, so one person on two days counts twice.
    pub identity_window: String,
    pub today: PeriodTotals,
    pub yesterday: PeriodTotals,
    pub this_month: PeriodTotals,
    pub last_30_days: PeriodTotals,
    /// The range asked for (`days`/`from`/`to`; default the last 30 days).
    pub range: RangeTotals,
    pub total: PeriodTotals,
    /// Over the range asked for.
    pub by_source: Vec<SourceTotals>,
    pub speed: SiteSpeed,
    /// History brought in from another system (`analytics-ctl import`),
    /// oldest first: its days lack some dimensions, and its visitors were
    /// counted the other system's way.
    pub imported: Vec<ImportedRange>,
}

/// The local days one import covers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedRange {
    /// Where the history came from: `django` (the old Visit table) or `umami`.
    pub source: String,
    /// What was read there: the Django table, or the Umami website id.
    pub table: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// Source rows read, counted or not.
    pub rows: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RangeTotals {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub totals: PeriodTotals,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChartPoint {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// In the calendar's own month names.
    pub label: String,
    #[serde(flatten)]
    pub totals: PeriodTotals,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Chart {
    pub period: String,
    pub calendar: String,
    pub timezone: String,
    /// Oldest first; buckets without data are zeros.
    pub points: Vec<ChartPoint>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageRow {
    pub path: String,
    /// The latest title seen for the page.
    pub title: String,
    pub pageviews: i64,
    pub visitors: i64,
    pub events: i64,
    #[serde(flatten)]
    pub comparison: Comparison,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopPages {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub results: Vec<PageRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountryRow {
    /// ISO 3166-1 alpha-2, or `unknown`.
    pub country: String,
    /// English name; `null` for `unknown`.
    pub name: Option<String>,
    pub pageviews: i64,
    pub visitors: i64,
    pub events: i64,
    #[serde(flatten)]
    pub comparison: Comparison,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopCountries {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub results: Vec<CountryRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Breakdown {
    pub dimension: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub results: Vec<Row>,
}

/// The custom property keys of a range (from the kept events).
#[derive(Debug, Serialize, ToSchema)]
pub struct Properties {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub results: Vec<crate::kept::Property>,
}

/// The site's goals over a range (from the kept events).
#[derive(Debug, Serialize, ToSchema)]
pub struct Goals {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The range's distinct visitors, whom the conversion rates divide.
    pub visitors: i64,
    pub results: Vec<crate::kept::GoalFigures>,
}

/// A funnel over a range (from the kept events).
#[derive(Debug, Serialize, ToSchema)]
pub struct Funnel {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The saved funnel's name, when it was asked for by name.
    pub name: Option<String>,
    pub steps: Vec<FunnelStep>,
}

/// The site's saved funnels (`analytics-ctl funnel add`), by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedFunnels {
    pub results: Vec<SavedFunnel>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SavedFunnel {
    pub name: String,
    /// Its steps, as `step` parameters are written.
    pub steps: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelStep {
    /// As asked: `page==<path>` or `event==<name>`.
    pub step: String,
    /// Visitors who reached it after every step before, in order.
    pub visitors: i64,
    /// Those visitors as a percent of the first step's (two decimals).
    pub conversion_rate: f64,
    /// Visitors of the step before who did not reach this one (0 for the first).
    pub dropoff: i64,
    /// That as a percent of the step before's visitors (two decimals).
    pub dropoff_rate: f64,
}

/// Timing summaries by metric; absent metrics were never reported. Web
/// vitals (`lcp_ms`, `fcp_ms`, `inp_ms`, `cls_thousandths`) come from Umami's
/// tracker with `data-performance`; `cls_thousandths` is the layout-shift
/// score times 1000, so its `avg_ms`, `p50_ms` and `p95_ms` are thousandths.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Timings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_ms: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfb_ms: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_ms: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lcp_ms: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fcp_ms: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inp_ms: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cls_thousandths: Option<Summary>,
}

impl Timings {
    fn slots(&mut self) -> [(&'static str, &mut Option<Summary>); 7] {
        use analytics_events::speed::*;
        [
            (RESPONSE_MS, &mut self.response_ms),
            (TTFB_MS, &mut self.ttfb_ms),
            (LOAD_MS, &mut self.load_ms),
            (LCP_MS, &mut self.lcp_ms),
            (FCP_MS, &mut self.fcp_ms),
            (INP_MS, &mut self.inp_ms),
            (CLS_THOUSANDTHS, &mut self.cls_thousandths),
        ]
    }

    pub fn set(&mut self, metric: &str, summary: Summary) {
        if let Some((_, slot)) = self.slots().into_iter().find(|(name, _)| *name == metric) {
            *slot = Some(summary);
        }
    }

    /// The most views any of its metrics has, for ordering pages.
    pub fn views(&self) -> i64 {
        [
            &self.response_ms,
            &self.ttfb_ms,
            &self.load_ms,
            &self.lcp_ms,
            &self.fcp_ms,
            &self.inp_ms,
            &self.cls_thousandths,
        ]
        .iter()
        .filter_map(|s| s.as_ref())
        .map(|s| s.count)
        .max()
        .unwrap_or(0)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageSpeed {
    pub path: String,
    #[serde(flatten)]
    pub timings: Timings,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Speed {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub overall: Timings,
    /// With `compare`: the site's figures over the compared range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Timings>,
    pub pages: Vec<PageSpeed>,
}

/// One app version's release health over the range.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct AppVersionRow {
    pub version: String,
    /// App requests that reported a response status.
    pub requests: i64,
    /// Percent of them answered 4xx, one decimal.
    pub client_error_rate: Option<f64>,
    /// Percent of them answered 5xx, one decimal.
    pub server_error_rate: Option<f64>,
    /// Response time of those that reported one.
    pub response: Summary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppVersions {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Most requests first.
    pub results: Vec<AppVersionRow>,
}

/// A site, as the admin's site list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteEntry {
    pub id: String,
    pub domain: String,
    /// IANA time zone its days are counted in.
    pub timezone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cleared {
    pub cleared: bool,
    pub generation: i64,
}

#[derive(Debug, Serialize, ToSchema, utoipa::ToResponse)]
pub struct ErrorBody {
    /// One line naming the problem, e.g. `days: expected a whole number from 1 to 3650`.
    pub error: String,
}

/// Query parameters, for the spec (handlers read [`crate::params::Params`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RangeParams {
    /// Site id or one of its domains.
    site: String,
    /// The N local days ending today, inclusive (1 to 3650). Default 30.
    days: Option<u32>,
    /// First local day, YYYY-MM-DD (instead of `days`).
    from: Option<NaiveDate>,
    /// Last local day, YYYY-MM-DD; default today.
    to: Option<NaiveDate>,
    /// Only this traffic source; all when absent.
    source: Option<String>,
    /// `previous_period` (as many days just before) or `year_over_year` (the same dates a
    /// year earlier) adds the compared values and the change in percent.
    compare: Option<String>,
    /// Most rows (1 to 1000). Default 20.
    limit: Option<u32>,
    /// A segment, repeatable (all must hold): `<dimension>==<value>`, `!=` (is not) or
    /// `~=` (contains, ignoring case); a dimension of `breakdown` (but `entry_page` and
    /// `exit_page`) or `prop:<key>`. Answered from the kept events.
    filter: Option<Vec<String>>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FunnelParams {
    /// Site id or one of its domains.
    site: String,
    /// 2 to 8 steps, in order: `page==<path>` (a prefix when it ends in `*`) or `event==<name>`.
    /// Either these or `name`.
    step: Option<Vec<String>>,
    /// A saved funnel's name (`GET /api/analytics/funnels/` lists them), instead of `step`.
    name: Option<String>,
    /// The N local days ending today, inclusive (1 to 3650). Default 30.
    days: Option<u32>,
    /// First local day, YYYY-MM-DD (instead of `days`).
    from: Option<NaiveDate>,
    /// Last local day, YYYY-MM-DD; default today.
    to: Option<NaiveDate>,
    /// Only this traffic source; all when absent.
    source: Option<String>,
    /// A segment, repeatable, as on the other endpoints.
    filter: Option<Vec<String>>,
}

/// Only the site: what it has set up, not figures over a range.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SiteParam {
    /// Site id or one of its domains.
    site: String,
}

/// The parameters of the answers from the kept events alone (no comparison).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct KeptParams {
    /// Site id or one of its domains.
    site: String,
    /// The N local days ending today, inclusive (1 to 3650). Default 30.
    days: Option<u32>,
    /// First local day, YYYY-MM-DD (instead of `days`).
    from: Option<NaiveDate>,
    /// Last local day, YYYY-MM-DD; default today.
    to: Option<NaiveDate>,
    /// Only this traffic source; all when absent.
    source: Option<String>,
    /// Most rows (1 to 1000). Default 20.
    limit: Option<u32>,
    /// A segment, repeatable, as on the other endpoints.
    filter: Option<Vec<String>>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FormatParam {
    /// `csv`: the rows (points, results or pages) as `text/csv`, a header row of
    /// the JSON field names (nested ones dotted), the same numbers as the JSON.
    format: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AppVersionParams {
    /// Site id or one of its domains.
    site: String,
    /// The N local days ending today, inclusive (1 to 3650). Default 30.
    days: Option<u32>,
    /// First local day, YYYY-MM-DD (instead of `days`).
    from: Option<NaiveDate>,
    /// Last local day, YYYY-MM-DD; default today.
    to: Option<NaiveDate>,
    /// Most rows (1 to 1000). Default 20.
    limit: Option<u32>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ChartParams {
    /// Site id or one of its domains.
    site: String,
    /// `daily` (default), `weekly`, `monthly`, or `hourly`: 24 points per local day
    /// (labels `HH:00`) of `days` (1 to 7, default 1: today) or `from`/`to`.
    period: Option<String>,
    /// First local day, YYYY-MM-DD, instead of counting back from today: the
    /// buckets that cover `from`..`to`, the first and last cut to it (hourly: at most 7 days).
    from: Option<NaiveDate>,
    /// Last local day, YYYY-MM-DD; default today.
    to: Option<NaiveDate>,
    /// Daily buckets (default 30).
    days: Option<u32>,
    /// Weekly buckets (default 12).
    weeks: Option<u32>,
    /// Monthly buckets (default 6).
    months: Option<u32>,
    /// `gregorian` (default; weeks from Monday) or `persian` (Solar Hijri; weeks from Saturday).
    calendar: Option<String>,
    /// Only this traffic source; all when absent.
    source: Option<String>,
    /// `previous_period` or `year_over_year`: each point gets the matching point of the
    /// compared period.
    compare: Option<String>,
    /// A segment, repeatable, as on the other endpoints.
    filter: Option<Vec<String>>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct BreakdownParams {
    /// What to rank (the values are listed from the handler's own table).
    dimension: String,
}

struct BearerAuth;

/// The values of the `dimension` and `source` parameters, taken from the
/// definitions the handlers check against, so the spec cannot drift from them.
struct NamedValues;

impl Modify for NamedValues {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
        let dimensions: Vec<&str> = crate::routes::top::Ranked::all().map(|d| d.name()).collect();
        let sources: Vec<&str> = analytics_events::TrafficSource::ALL.iter().map(|s| s.as_str()).collect();
        let formats = vec!["json", "csv"];
        let comparisons = crate::params::Comparison::NAMES.to_vec();
        let operations = openapi.paths.paths.values_mut().flat_map(|item| [item.get.as_mut(), item.post.as_mut()]);
        for operation in operations.flatten() {
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else { continue };
                let values = match parameter.name.as_str() {
                    "dimension" => {
                        // The named dimensions, or a custom property.
                        let names = dimensions.join("|");
                        let pattern = format!("^({names}|{}.+)$", crate::routes::top::PROPERTY_PREFIX);
                        let schema = ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern));
                        parameter.schema = Some(RefOr::T(Schema::Object(schema.build())));
                        continue;
                    }
                    "source" => &sources,
                    "format" => &formats,
                    "compare" => &comparisons,
                    _ => continue,
                };
                let schema = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values.clone()));
                parameter.schema = Some(RefOr::T(Schema::Object(schema.build())));
            }
        }
    }
}

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.components.get_or_insert_default().add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Visit analytics dashboard API", description = "Numbers from the rollups, in each site's time zone."),
    paths(
        crate::routes::overview::overview,
        crate::routes::chart::chart,
        crate::routes::top::top_pages,
        crate::routes::top::top_countries,
        crate::routes::top::breakdown,
        crate::routes::properties::properties,
        crate::routes::goals::goals,
        crate::routes::funnel::funnel,
        crate::routes::funnel::saved,
        crate::routes::speed::speed,
        crate::routes::realtime::realtime,
        crate::routes::app_versions::app_versions,
        crate::routes::sites::sites,
        crate::routes::admin::clear_cache,
    ),
    modifiers(&BearerAuth, &NamedValues),
    security(("bearer" = []))
)]
pub struct ApiDoc;

pub async fn openapi_json() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(ApiDoc::openapi())
}
