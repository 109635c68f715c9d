//! `top-pages`, `top-countries` and `breakdown`: the top values of one
//! dimension over a range, with pageviews, visitors and events.

use actix_web::{HttpRequest, HttpResponse, web};
use analytics_events::Dimension;
use analytics_store::PgPool;

use super::{CacheKey, Format, SiteRequest, cached};
use crate::api::{Breakdown, CountryRow, PageRow, TopCountries, TopPages};
use crate::error::QueryError;
use crate::figures::Figures;
use crate::params::{Comparison, DayRange, Params, allowed};
use crate::startup::AppState;
use crate::stats::{self, Row};

/// What `breakdown` ranks: a dimension the aggregator counts (`page` and
/// `country` also have endpoints of their own), the traffic source itself, or
/// the first and last pages of visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranked {
    Counted(Dimension),
    Source,
    EntryPage,
    ExitPage,
    /// A custom property's values (`prop:<key>`, from the kept events).
    Property,
}

/// How `breakdown` is asked for a custom property's values: `prop:<key>`.
pub const PROPERTY_PREFIX: &str = "prop:";

impl Ranked {
    /// Every value of the `dimension` parameter, in the order the spec lists them.
    pub fn all() -> impl Iterator<Item = Ranked> {
        [Ranked::Source]
            .into_iter()
            .chain(Dimension::ALL.map(Ranked::Counted))
            .chain([Ranked::EntryPage, Ranked::ExitPage])
    }

    pub fn name(self) -> &'static str {
        match self {
            Ranked::Counted(dimension) => dimension.as_str(),
            Ranked::Source => "source",
            Ranked::EntryPage => "entry_page",
            Ranked::ExitPage => "exit_page",
            Ranked::Property => "prop",
        }
    }

    /// Every name, comma-separated, for error messages and the spec.
    pub fn names() -> String {
        let names: Vec<&str> = Self::all().map(Ranked::name).collect();
        format!("{} or {PROPERTY_PREFIX}<key>", names.join(", "))
    }
}

/// Pages by pageviews, with their latest titles.
#[utoipa::path(
    get,
    path = "/api/analytics/top-pages/",
    params(crate::api::RangeParams, crate::api::FormatParam),
    responses(
        (status = 200, description = "The answer", body = TopPages),
        crate::api::SiteErrors,
    )
)]
pub async fn top_pages(
    request: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let top = Top::new(&request, &params, &state, Ranked::Counted(Dimension::Page), allowed::TABLE).await?;
    let format = Format::of(&params, "results")?;
    cached(&request, &state, &top.ctx.site, top.live(), top.key("top-pages"), format, async {
        let mut connection = super::connection(&state).await?;
        let snapshot = super::answer_snapshot(&mut connection, top.reads_kept()).await?;
        let client = snapshot.client();
        let rows = top.compared(&state.pool, client).await?;
        let paths: Vec<&str> = rows.iter().map(|r| r.value.as_str()).collect();
        let titles = stats::titles(client, top.ctx.site.id, &paths).await?;
        let results = rows
            .into_iter()
            .map(|r| PageRow {
                title: titles.get(&r.value).cloned().unwrap_or_default(),
                path: r.value,
                pageviews: r.pageviews,
                visitors: r.visitors,
                events: r.events,
                comparison: r.comparison,
            })
            .collect();
        Ok(TopPages { from: top.range.from, to: top.range.to, results })
    })
    .await
}

/// Countries by pageviews, with English names.
#[utoipa::path(
    get,
    path = "/api/analytics/top-countries/",
    params(crate::api::RangeParams, crate::api::FormatParam),
    responses(
        (status = 200, description = "The answer", body = TopCountries),
        crate::api::SiteErrors,
    )
)]
pub async fn top_countries(
    request: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let top = Top::new(&request, &params, &state, Ranked::Counted(Dimension::Country), allowed::TABLE).await?;
    let format = Format::of(&params, "results")?;
    cached(&request, &state, &top.ctx.site, top.live(), top.key("top-countries"), format, async {
        let mut connection = super::connection(&state).await?;
        let snapshot = super::answer_snapshot(&mut connection, top.reads_kept()).await?;
        let client = snapshot.client();
        let results = top
            .compared(&state.pool, client)
            .await?
            .into_iter()
            .map(|r| CountryRow {
                name: crate::countries::name(&r.value).map(str::to_owned),
                country: r.value,
                pageviews: r.pageviews,
                visitors: r.visitors,
                events: r.events,
                comparison: r.comparison,
            })
            .collect();
        Ok(TopCountries { from: top.range.from, to: top.range.to, results })
    })
    .await
}

/// The top values of any dimension.
#[utoipa::path(
    get,
    path = "/api/analytics/breakdown/",
    params(crate::api::BreakdownParams, crate::api::RangeParams, crate::api::FormatParam),
    responses(
        (status = 200, description = "The answer", body = Breakdown),
        crate::api::SiteErrors,
    )
)]
pub async fn breakdown(
    request: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, QueryError> {
    let asked = params.dimension.as_deref().unwrap_or_default();
    let property = asked.strip_prefix(PROPERTY_PREFIX).filter(|key| property_key(key));
    let dimension = match property {
        Some(_) => Some(Ranked::Property),
        None => Ranked::all().find(|d| d.name() == asked),
    };
    let top = match dimension {
        Some(dimension) => {
            let mut top = Top::new(&request, &params, &state, dimension, allowed::BREAKDOWN).await?;
            top.property = property.unwrap_or_default().to_owned();
            top
        }
        None => {
            // Authorise first, so a wrong token is a 401 whatever the parameters.
            SiteRequest::authorize(&request, &params, &state, allowed::BREAKDOWN).await?;
            return Err(QueryError::BadParameter {
                name: "dimension",
                reason: format!("expected one of {}, got {asked:?}", Ranked::names()),
            });
        }
    };
    let format = Format::of(&params, "results")?;
    cached(&request, &state, &top.ctx.site, top.live(), top.key("breakdown"), format, async {
        let mut connection = super::connection(&state).await?;
        let snapshot = super::answer_snapshot(&mut connection, top.reads_kept()).await?;
        let client = snapshot.client();
        let results = top.compared(&state.pool, client).await?;
        let dimension = match top.dimension {
            Ranked::Property => format!("{PROPERTY_PREFIX}{}", top.property),
            dimension => dimension.name().into(),
        };
        Ok(Breakdown { dimension, from: top.range.from, to: top.range.to, results })
    })
    .await
}

/// A custom property key as events carry them: not empty, at most
/// `limits::PROP_KEY` bytes.
fn property_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= analytics_events::clean::limits::PROP_KEY
}

/// One top-N request, checked.
struct Top {
    ctx: SiteRequest,
    dimension: Ranked,
    /// The key, when the dimension is a custom property.
    property: String,
    /// The segment (none: everything).
    filters: crate::filters::Filters,
    range: DayRange,
    source: Option<&'static str>,
    limit: i64,
    compare: Option<Comparison>,
}

impl Top {
    async fn new(
        request: &HttpRequest,
        params: &Params,
        state: &AppState,
        dimension: Ranked,
        allowed: &[&str],
    ) -> Result<Self, QueryError> {
        let ctx = SiteRequest::authorize(request, params, state, allowed).await?;
        let range = params.range(ctx.today, 30)?;
        let (source, limit, compare) = (params.source()?, params.limit()?, params.compare()?);
        let filters = params.filters()?;
        if !filters.is_empty() && matches!(dimension, Ranked::EntryPage | Ranked::ExitPage) {
            return Err(QueryError::BadParameter {
                name: "filter",
                reason: "entry and exit pages cannot be filtered (yet)".into(),
            });
        }
        Ok(Self { dimension, property: String::new(), filters, range, source, limit, compare, ctx })
    }

    /// Whether its rows come from the kept events (a segment, or a custom
    /// property's values) rather than the rollups.
    fn reads_kept(&self) -> bool {
        !self.filters.is_empty() || matches!(self.dimension, Ranked::Property)
    }

    fn live(&self) -> bool {
        self.range.includes(self.ctx.today)
    }

    fn key(&self, endpoint: &str) -> CacheKey {
        CacheKey::new(endpoint, self.ctx.today)
            .with("dimension", self.dimension.name())
            .with("property", format!("{}:{}", self.property.len(), self.property))
            .with("filter", &self.filters)
            .with("range", self.range)
            .with("source", self.source.unwrap_or("all"))
            .with("limit", self.limit)
            .with("compare", self.compare.map_or("none", Comparison::as_str))
    }

    /// The top rows over the range; with `compare`, each with its figures
    /// over the previous period of the same length (0 where it had none).
    async fn compared(&self, pool: &PgPool, client: &tokio_postgres::Client) -> Result<Vec<Row>, QueryError> {
        let mut rows = self.rows(pool, client, self.range, None).await?;
        // Entry and exit pages count visits, which the comparison's totals do not hold.
        if let Some(comparison) =
            self.compare.filter(|_| !matches!(self.dimension, Ranked::EntryPage | Ranked::ExitPage))
        {
            let values: Vec<String> = rows.iter().map(|r| r.value.clone()).collect();
            let before = self.rows(pool, client, comparison.earlier(self.range), Some(&values)).await?;
            for row in &mut rows {
                let previous = before.iter().find(|b| b.value == row.value).map(Row::totals).unwrap_or_default();
                row.comparison = crate::api::Comparison::between(&row.totals(), previous);
            }
        }
        Ok(rows)
    }

    /// The top rows over `range`, or with `only` just those values.
    async fn rows(
        &self,
        pool: &PgPool,
        client: &tokio_postgres::Client,
        range: DayRange,
        only: Option<&[String]>,
    ) -> Result<Vec<Row>, QueryError> {
        let (site, source, limit) = (self.ctx.site.id, self.source, self.limit);
        let figures = Figures { client, site: &self.ctx.site, filters: &self.filters };
        let mut rows = match self.dimension {
            Ranked::EntryPage => stats::visit_pages(client, site, "entry", range, source, limit).await?,
            Ranked::ExitPage => stats::visit_pages(client, site, "exit", range, source, limit).await?,
            Ranked::Source => {
                let mut rows = figures.by_source(range).await?;
                rows.retain(|r| source.is_none_or(|s| s == r.value));
                rows.truncate(limit as usize);
                rows
            }
            Ranked::Property => {
                let segment = crate::kept::Segment { site, source, filters: &self.filters };
                return Ok(crate::kept::property_values(client, &segment, range, &self.property, limit, only).await?);
            }
            Ranked::Counted(dimension) => {
                let dimension = dimension.as_str();
                // Only the rollups' ranking has work to overlap (see `stats::top`).
                let worth = self.filters.is_empty() && only.is_none();
                let mut spare = analytics_store::idle_connection(pool, worth).await;
                let beside = analytics_store::snapshot_beside(spare.as_mut(), client).await?;
                let beside = beside.as_ref().map(|b| b.client());
                return Ok(figures.top(beside, dimension, range, self.ctx.today, source, limit, only).await?);
            }
        };
        if let Some(only) = only {
            rows.retain(|r| only.contains(&r.value));
        }
        Ok(rows)
    }
}
