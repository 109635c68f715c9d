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
