//! Where an answer's figures come from: the rollups, or, for a segment
//! (`filter=`), the kept events ([`crate::kept`]). Endpoints ask here and
//! need not know which.

use std::collections::HashMap;

use analytics_store::sites::Site;
use chrono::NaiveDate;
use tokio_postgres::Client;

use crate::filters::Filters;
use crate::kept::{self, Segment};
use crate::params::DayRange;
use crate::stats::{self, HourKey, Row, SpeedRow, Totals, VisitSums};

pub struct Figures<'a> {
    pub client: &'a Client,
    pub site: &'a Site,
    pub filters: &'a Filters,
}

impl<'a> Figures<'a> {
    /// The same figures asked on `client` when there is one (a connection
    /// beside this one's, in its snapshot).
    pub fn on(&self, client: Option<&'a Client>) -> Figures<'a> {
        Figures { client: client.unwrap_or(self.client), site: self.site, filters: self.filters }
    }

    /// Pageviews, visitors and events over `totals`, and visits over
    /// `visits`, in the order of each: for a segment, each list on its own
    /// connection at once (see [`beside`]).
    pub async fn totals_and_visits_per_range(
        &self,
        pool: &analytics_store::PgPool,
        totals: &[DayRange],
        visits: &[DayRange],
        source: Option<&'static str>,
    ) -> Result<(Vec<Totals>, Vec<VisitSums>), tokio_postgres::Error> {
        let mut spare = self.spare(pool).await;
        let beside = beside(spare.as_mut(), self.client).await?;
        let other = self.on(beside.as_ref().map(|b| b.client()));
        tokio::try_join!(self.totals_per_range(totals, source), other.visits_per_range(visits, source))
    }

    /// [`Self::totals_per_hour`] and [`Self::visits_per_hour`], for a
    /// segment on two connections at once.
    #[allow(clippy::type_complexity)]
    pub async fn totals_and_visits_per_hour(
        &self,
        pool: &analytics_store::PgPool,
        range: DayRange,
        source: Option<&'static str>,
    ) -> Result<(HashMap<HourKey, Totals>, HashMap<HourKey, VisitSums>), tokio_postgres::Error> {
        let mut spare = self.spare(pool).await;
        let beside = beside(spare.as_mut(), self.client).await?;
        let other = self.on(beside.as_ref().map(|b| b.client()));
        tokio::try_join!(self.totals_per_hour(range, source), other.visits_per_hour(range, source))
    }

    /// The overview's breakdowns of `range`: the app's top `versions`
    /// values and the sources on this connection, the site's speed (of
    /// `source`) beside it; for a segment each reads the range's events, so
    /// the two run at once as [`Self::totals_and_visits_per_range`] do.
    #[allow(clippy::type_complexity)]
    pub async fn versions_sources_and_speed(
        &self,
        pool: &analytics_store::PgPool,
        range: DayRange,
        today: NaiveDate,
        source: Option<&'static str>,
        versions: i64,
    ) -> Result<(Vec<Row>, Vec<Row>, Vec<SpeedRow>), tokio_postgres::Error> {
        let mut spare = self.spare(pool).await;
        let beside = beside(spare.as_mut(), self.client).await?;
        let other = self.on(beside.as_ref().map(|b| b.client()));
        let app = Some(analytics_events::TrafficSource::App.as_str());
        let version = analytics_events::Dimension::AppVersion.as_str();
        let versions_and_sources = async {
            let top = self.top(None, version, range, today, app, versions, None).await?;
            Ok((top, self.by_source(range).await?))
        };
        let ((top, sources), speed) = tokio::try_join!(versions_and_sources, other.speed(range, today, source, 0))?;
        Ok((top, sources, speed))
    }

    /// A spare pooled connection for a segment, when one is free at once:
    /// its statements each read kept events for hundreds of milliseconds,
    /// so two run at once; the rollups answer in a few.
    async fn spare(&self, pool: &analytics_store::PgPool) -> Option<deadpool_postgres::Object> {
        analytics_store::idle_connection(pool, !self.filters.is_empty()).await
    }

    fn segment(&self, source: Option<&'static str>) -> Option<Segment<'_>> {
        (!self.filters.is_empty()).then_some(Segment { site: self.site.id, source, filters: self.filters })
    }

    pub async fn totals_per_range(
        &self,
        ranges: &[DayRange],
        source: Option<&'static str>,
    ) -> Result<Vec<Totals>, tokio_postgres::Error> {
        match self.segment(source) {
            Some(segment) => kept::totals_per_range(self.client, &segment, ranges).await,
            None => stats::totals_per_range(self.client, self.site.id, ranges, source).await,
        }
    }

    pub async fn visits_per_range(
        &self,
        ranges: &[DayRange],
        source: Option<&'static str>,
    ) -> Result<Vec<VisitSums>, tokio_postgres::Error> {
        match self.segment(source) {
            Some(segment) => kept::visits_per_range(self.client, &segment, ranges, self.site.visit_gap_minutes).await,
            None => stats::visits_per_range(self.client, self.site.id, ranges, source).await,
        }
    }

    pub async fn totals_per_hour(
        &self,
        range: DayRange,
        source: Option<&'static str>,
    ) -> Result<HashMap<HourKey, Totals>, tokio_postgres::Error> {
        match self.segment(source) {
            Some(segment) => kept::totals_per_hour(self.client, &segment, range, self.site.timezone.name()).await,
            None => stats::totals_per_hour(self.client, self.site.id, range, source).await,
        }
    }

    pub async fn visits_per_hour(
        &self,
        range: DayRange,
        source: Option<&'static str>,
    ) -> Result<HashMap<HourKey, VisitSums>, tokio_postgres::Error> {
        match self.segment(source) {
            Some(segment) => {
                let (zone, gap) = (self.site.timezone.name(), self.site.visit_gap_minutes);
                kept::visits_per_hour(self.client, &segment, range, zone, gap).await
            }
            None => stats::visits_per_hour(self.client, self.site.id, range, source).await,
        }
    }

    pub async fn by_source(&self, range: DayRange) -> Result<Vec<Row>, tokio_postgres::Error> {
        match self.segment(None) {
            Some(segment) => kept::by_source(self.client, &segment, range).await,
            None => stats::by_source(self.client, self.site.id, range).await,
        }
    }

    /// The top values of a counted dimension (see [`stats::top`], which
    /// may use the `spare` connection beside the first).
    #[allow(clippy::too_many_arguments)]
    pub async fn top(
        &self,
        spare: Option<&Client>,
        dimension: &'static str,
        range: DayRange,
        today: NaiveDate,
        source: Option<&'static str>,
        limit: i64,
        only: Option<&[String]>,
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        match self.segment(source) {
            Some(segment) => {
                let by_events = dimension == analytics_events::Dimension::Event.as_str();
                kept::top(self.client, &segment, dimension, range, limit, only, by_events).await
            }
            None => stats::top(self.client, spare, self.site.id, dimension, range, today, source, limit, only).await,
        }
    }

    pub async fn speed(
        &self,
        range: DayRange,
        today: NaiveDate,
        source: Option<&'static str>,
        pages: i64,
    ) -> Result<Vec<SpeedRow>, tokio_postgres::Error> {
        match self.segment(source) {
            Some(segment) => kept::speed(self.client, &segment, range, pages).await,
            None => stats::speed(self.client, self.site.id, range, today, source, pages).await,
        }
    }
}

/// `spare` in the snapshot `main` reads (`analytics_store::snapshot_beside`),
/// set up for kept events as `main` is ([`kept::without_jit`]).
async fn beside<'c>(
    spare: Option<&'c mut deadpool_postgres::Object>,
    main: &Client,
) -> Result<Option<deadpool_postgres::Transaction<'c>>, tokio_postgres::Error> {
    let beside = analytics_store::snapshot_beside(spare, main).await?;
    if let Some(beside) = &beside {
        kept::without_jit(beside).await?;
    }
    Ok(beside)
}
