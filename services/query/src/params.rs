//! Query-string parameters shared by the dashboard endpoints, checked into
//! typed values; each error names its parameter (400).

use analytics_events::TrafficSource;
use chrono::{Datelike, Days, NaiveDate};
use serde::Deserialize;

use crate::error::QueryError;

/// Every parameter any endpoint takes; each endpoint reads what it needs and
/// refuses the others ([`Params::only`]). Any other name is refused when the
/// query string is read (400 naming it), so nothing a caller adds can vary an
/// answer's cache key.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub site: Option<String>,
    pub days: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub source: Option<String>,
    pub compare: Option<String>,
    pub limit: Option<String>,
    pub dimension: Option<String>,
    pub period: Option<String>,
    pub weeks: Option<String>,
    pub months: Option<String>,
    pub calendar: Option<String>,
    pub format: Option<String>,
    /// Every `filter=` of the query string (see [`crate::filters`]).
    pub filter: Option<Vec<String>>,
    /// Every `step=` of a funnel (see [`crate::funnel`]).
    pub step: Option<Vec<String>>,
    /// A saved funnel's name (instead of `step`).
    pub name: Option<String>,
}

/// Handlers take [`Params`] straight from the query string.
impl actix_web::FromRequest for Params {
    type Error = QueryError;
    type Future = std::future::Ready<Result<Self, QueryError>>;

    fn from_request(request: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Params::from_query_string(request.query_string()))
    }
}

/// An inclusive range of local days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A range cut into whole calendar months (read from monthly rows), whole
/// sealed weeks among the other days (read from weekly rows, see
/// [`MonthSplit::with_weeks`]) and the days left (read from daily rows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonthSplit {
    /// First days of the whole months.
    pub months: Vec<NaiveDate>,
    /// Mondays of the whole weeks outside the months.
    pub weeks: Vec<NaiveDate>,
    /// Every day outside them, listed: a query pins each, so that an index
    /// lookup of a few values descends straight to them (the daily rows'
    /// keys begin with the site and the day, so a range of days could not).
    pub days: Vec<NaiveDate>,
}

impl MonthSplit {
    /// The days of every week in `sealed` (Mondays of weeks whose weekly rows
    /// are complete) that lies wholly among the listed days, moved to
    /// [`Self::weeks`]. The last 30 days then read at most 6 + 6 days, 4
    /// weeks and 2 months, whatever the day of the month.
    pub fn with_weeks(mut self, sealed: &[NaiveDate]) -> MonthSplit {
        let listed: std::collections::HashSet<NaiveDate> = self.days.iter().copied().collect();
        let mut weeks: Vec<NaiveDate> =
            sealed.iter().copied().filter(|monday| monday.iter_days().take(7).all(|d| listed.contains(&d))).collect();
        weeks.sort();
        weeks.dedup();
        self.days.retain(|day| !weeks.iter().any(|monday| *monday <= *day && *day < *monday + Days::new(7)));
        self.weeks = weeks;
        self
    }
}

impl DayRange {
    /// A month counts as whole when the range holds all of it, or all of it
    /// up to `today` (no later day has data yet).
    pub fn split_months(&self, today: NaiveDate) -> MonthSplit {
        let mut months = Vec::new();
        let mut month = self.from.with_day(1).unwrap_or(self.from);
        if month < self.from {
            month = next_month(month);
        }
        while month <= self.to {
            let last = next_month(month).pred_opt().unwrap_or(month);
            if last > self.to && self.to < today {
                break;
            }
            months.push(month);
            month = next_month(month);
        }
        // The whole months are consecutive: every other day of the range is listed.
        let whole = match (months.first(), months.last()) {
            (Some(first), Some(last)) => *first..next_month(*last),
            _ => self.from..self.from,
        };
        let days = self.from.iter_days().take(self.days() as usize).filter(|d| !whole.contains(d)).collect();
        MonthSplit { months, weeks: Vec::new(), days }
    }

    /// The first day of every month the range has a day in.
    pub fn months_touched(&self) -> Vec<NaiveDate> {
        let mut months = Vec::new();
        let mut month = self.from.with_day(1).unwrap_or(self.from);
        while month <= self.to {
            months.push(month);
            let next = next_month(month);
            if next <= month {
                break; // the calendar's end
            }
            month = next;
        }
        months
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The range of the same length that ends the day before this one.
    pub fn previous(&self) -> DayRange {
        let to = self.from.pred_opt().unwrap_or(self.from);
        let from = to.checked_sub_days(Days::new(self.days() as u64 - 1)).unwrap_or(NaiveDate::MIN);
        DayRange { from, to }
    }

    pub fn includes(&self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }

    /// The same dates a year earlier (29 February becomes the 28th).
    pub fn year_before(&self) -> DayRange {
        DayRange { from: year_before(self.from), to: year_before(self.to) }
    }
}

pub fn year_before(day: NaiveDate) -> NaiveDate {
    day.checked_sub_months(chrono::Months::new(12)).unwrap_or(NaiveDate::MIN)
}

/// What a range is compared with (`compare=`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Comparison {
    /// As many days again, just before.
    PreviousPeriod,
    /// The same dates a year earlier.
    YearOverYear,
}

impl Comparison {
    pub const NAMES: [&str; 2] = ["previous_period", "year_over_year"];

    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::PreviousPeriod => Self::NAMES[0],
            Comparison::YearOverYear => Self::NAMES[1],
        }
    }

    /// The range `range` is compared with.
    pub fn earlier(self, range: DayRange) -> DayRange {
        match self {
            Comparison::PreviousPeriod => range.previous(),
            Comparison::YearOverYear => range.year_before(),
        }
    }
}

/// As a cache key part: `from..to`.
impl std::fmt::Display for DayRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

/// The first day of the month after `month`'s.
fn next_month(month: NaiveDate) -> NaiveDate {
    let first = month.with_day(1).unwrap_or(month);
    first.checked_add_months(chrono::Months::new(1)).unwrap_or(NaiveDate::MAX)
}

/// The parameters each kind of endpoint takes (as its OpenAPI text lists them).
pub mod allowed {
    pub const RANGE: &[&str] = &["site", "days", "from", "to", "source", "compare", "limit", "filter"];
    /// A range whose rows may also be asked for as CSV.
    pub const TABLE: &[&str] = &["site", "days", "from", "to", "source", "compare", "limit", "format", "filter"];
    pub const BREAKDOWN: &[&str] =
        &["site", "days", "from", "to", "source", "compare", "limit", "dimension", "format", "filter"];
    pub const CHART: &[&str] = &[
        "site", "period", "days", "from", "to", "weeks", "months", "calendar", "source", "compare", "format", "filter",
    ];
    pub const REALTIME: &[&str] = &["site", "filter"];
    pub const APP_VERSIONS: &[&str] = &["site", "days", "from", "to", "limit", "format"];
    /// Answers from the kept events (properties, goals).
    pub const KEPT: &[&str] = &["site", "days", "from", "to", "source", "limit", "format", "filter"];
    pub const FUNNEL: &[&str] = &["site", "days", "from", "to", "source", "filter", "step", "name"];
    /// Lists of what a site has set up (its saved funnels).
    pub const SITE: &[&str] = &["site"];
}

pub const MAX_DAYS: u64 = 3650;

fn bad(name: &'static str, reason: impl Into<String>) -> QueryError {
    QueryError::BadParameter { name, reason: reason.into() }
}

/// A whole number in `1..=max`, or `default` when absent.
pub fn count(value: &Option<String>, name: &'static str, default: u64, max: u64) -> Result<u64, QueryError> {
    match value.as_deref() {
        None | Some("") => Ok(default),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(name, format!("expected a whole number from 1 to {max}, got {text:?}"))),
        },
    }
}

fn date(value: &str, name: &'static str) -> Result<NaiveDate, QueryError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| bad(name, format!("expected YYYY-MM-DD, got {value:?}")))
}

impl Params {
    /// The parameters of a query string: `filter` and `step` may repeat,
    /// any other name is given once; an unknown name is refused, naming it.
    pub fn from_query_string(query: &str) -> Result<Self, QueryError> {
        use serde_json::Value;
        const REPEATABLE: [&str; 2] = ["filter", "step"];
        let mut fields = serde_json::Map::new();
        let mut lists: [Vec<Value>; 2] = Default::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            // Postgres refuses a NUL in text: asked for, it would fail the
            // statement (a 500) rather than match nothing.
            if name.contains('\0') || value.contains('\0') {
                let name = analytics_events::clean::truncate(&name, 64).escape_debug().to_string();
                return Err(bad("query", format!("{name} holds a NUL byte, which no stored value can")));
            }
            if let Some(i) = REPEATABLE.iter().position(|r| *r == name) {
                lists[i].push(Value::String(value.into_owned()));
            } else if fields.insert(name.clone().into_owned(), Value::String(value.into_owned())).is_some() {
                let name = analytics_events::clean::truncate(&name, 64).escape_debug().to_string();
                return Err(bad("query", format!("{name} is given more than once")));
            }
        }
        for (name, list) in REPEATABLE.into_iter().zip(lists) {
            if !list.is_empty() {
                fields.insert(name.into(), Value::Array(list));
            }
        }
        serde_json::from_value(Value::Object(fields)).map_err(|e| QueryError::from_query(&e.to_string()))
    }

    /// The segment asked for (no filter: everything).
    pub fn filters(&self) -> Result<crate::filters::Filters, QueryError> {
        crate::filters::Filters::parse(self.filter.as_deref().unwrap_or_default())
    }

    /// Refuses a parameter that the endpoint does not take (`allowed` lists
    /// those it does), naming it.
    pub fn only(&self, allowed: &[&str]) -> Result<(), QueryError> {
        // Every field of Params, by its serialized name: a parameter added to
        // the struct is checked without being listed again here.
        let given = serde_json::to_value(self).map_err(|e| QueryError::Internal(e.into()))?;
        let fields = given.as_object().into_iter().flatten();
        match fields.filter(|(_, value)| !value.is_null()).find(|(name, _)| !allowed.contains(&name.as_str())) {
            Some((name, _)) => Err(QueryError::UnknownParameter(format!("{name} (not a parameter of this endpoint)"))),
            None => Ok(()),
        }
    }

    /// `from`/`to` when given (both inclusive), else the `days` local days
    /// ending `today` (default `default_days`).
    pub fn range(&self, today: NaiveDate, default_days: u64) -> Result<DayRange, QueryError> {
        match (self.from.as_deref(), self.to.as_deref()) {
            (Some(from), to) => {
                let from = date(from, "from")?;
                let to = match to {
                    Some(to) => date(to, "to")?,
                    None => today,
                };
                if from > to {
                    return Err(bad("from", "must not be after to"));
                }
                if (to - from).num_days() as u64 >= MAX_DAYS {
                    return Err(bad("from", format!("ranges are at most {MAX_DAYS} days")));
                }
                Ok(DayRange { from, to })
            }
            (None, Some(_)) => Err(bad("from", "required when to is given")),
            (None, None) => {
                let days = count(&self.days, "days", default_days, MAX_DAYS)?;
                let from = today.checked_sub_days(Days::new(days - 1)).unwrap_or(NaiveDate::MIN);
                Ok(DayRange { from, to: today })
            }
        }
    }

    /// The `source` filter: `None` for all sources.
    pub fn source(&self) -> Result<Option<&'static str>, QueryError> {
        match self.source.as_deref() {
            None | Some("") | Some("all") => Ok(None),
            Some(text) => TrafficSource::parse(text).map(|s| Some(s.as_str())).ok_or_else(|| {
                let known: Vec<&str> = TrafficSource::ALL.iter().map(|s| s.as_str()).collect();
                bad("source", format!("expected one of {}, got {text:?}", known.join(", ")))
            }),
        }
    }

    /// `format=csv`: the rows as CSV rather than the answer as JSON.
    pub fn csv(&self) -> Result<bool, QueryError> {
        match self.format.as_deref() {
            None | Some("") | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => Err(bad("format", format!("expected json or csv, got {other:?}"))),
        }
    }

    /// The comparison asked for, if any.
    pub fn compare(&self) -> Result<Option<Comparison>, QueryError> {
        match self.compare.as_deref() {
            None | Some("") => Ok(None),
            Some("previous_period") => Ok(Some(Comparison::PreviousPeriod)),
            Some("year_over_year") => Ok(Some(Comparison::YearOverYear)),
            Some(other) => Err(bad("compare", format!("expected {}, got {other:?}", Comparison::NAMES.join(" or ")))),
        }
    }

    pub fn limit(&self) -> Result<i64, QueryError> {
        Ok(count(&self.limit, "limit", 20, 1000)? as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_into_whole_months_and_edge_days() {
        let range = |a: &str, b: &str| DayRange { from: d(a), to: d(b) };
        let listed = |a: &str, b: &str| d(a).iter_days().take_while(|day| *day <= d(b)).collect::<Vec<_>>();
        let today = d("2026-11-27");
        // 30 days up to today: three days of October, November so far as a month.
        let split = range("2026-10-29", "2026-11-27").split_months(today);
        assert_eq!(split.months, vec![d("2026-11-01")]);
        assert_eq!(split.days, listed("2026-10-29", "2026-10-31"));
        // A year up to today: a few days, then twelve months.
        let split = range("2025-11-28", "2026-11-27").split_months(today);
        assert_eq!(split.months.len(), 12);
        assert_eq!(split.days, listed("2025-11-28", "2025-11-30"));
        // A closed range inside a month, and one ending mid-month in the past.
        assert_eq!(range("2026-10-05", "2026-10-20").split_months(today).days, listed("2026-10-05", "2026-10-20"));
        let split = range("2026-08-01", "2026-10-15").split_months(today);
        assert_eq!(split.months, vec![d("2026-08-01"), d("2026-09-01")]);
        assert_eq!(split.days, listed("2026-10-01", "2026-10-15"));
        // Today only: the current month is not whole unless it started today.
        assert_eq!(range("2026-11-27", "2026-11-27").split_months(today).days, listed("2026-11-27", "2026-11-27"));
        // Days on both sides of whole months; a range of whole months has none.
        let split = range("2026-07-30", "2026-10-02").split_months(today);
        assert_eq!(split.days, [listed("2026-07-30", "2026-07-31"), listed("2026-10-01", "2026-10-02")].concat());
        let split = range("2026-08-01", "2026-09-30").split_months(today);
        assert_eq!((split.months.len(), split.days.len()), (2, 0));
    }

    #[test]
    fn every_day_of_a_range_is_read_once() {
        let today = d("2026-12-02");
        for start in d("2025-01-01").iter_days().take(800).step_by(7) {
            for len in [1_u64, 2, 7, 30, 31, 45, 365] {
                let range = DayRange { from: start, to: start + Days::new(len - 1) };
                let split = range.split_months(today);
                let mut days = split.days.clone();
                for month in &split.months {
                    days.extend(month.iter_days().take_while(|d| d < &next_month(*month) && *d <= range.to.max(today)));
                }
                days.retain(|d| *d <= range.to);
                days.sort();
                let expected: Vec<NaiveDate> = range.from.iter_days().take(len as usize).collect();
                assert_eq!(days, expected, "{range}");
            }
        }
    }

    #[test]
    fn sealed_weeks_among_the_days_replace_them() {
        let range = |a: &str, b: &str| DayRange { from: d(a), to: d(b) };
        let listed = |a: &str, b: &str| d(a).iter_days().take_while(|day| *day <= d(b)).collect::<Vec<_>>();
        let today = d("2026-12-01");
        // The worst day for months: 29 days of November, December as a month.
        let mondays = ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23"].map(d);
        let split = range("2026-11-02", "2026-12-01").split_months(today).with_weeks(&mondays);
        assert_eq!(split.months, vec![d("2026-12-01")]);
        assert_eq!(split.weeks, mondays[1..].to_vec());
        assert_eq!(split.days, listed("2026-11-30", "2026-11-30"));
        // A week cut by the range's first day, or by a whole month, stays in days;
        // a week that is not sealed too.
        let split = range("2026-10-28", "2026-12-01").split_months(today).with_weeks(&mondays[..3]);
        assert_eq!(split.months, vec![d("2026-11-01"), d("2026-12-01")]);
        assert_eq!((split.weeks.len(), split.days.len()), (0, 4));
        let split =
            range("2026-10-05", "2026-10-31").split_months(today).with_weeks(&[d("2026-10-12"), d("2026-10-26")]);
        // (the week of the 26th ends on 1 November, past the range)
        assert_eq!(split.weeks, vec![d("2026-10-12")]);
        assert_eq!(split.days, [listed("2026-10-05", "2026-10-11"), listed("2026-10-19", "2026-10-31")].concat());
        let split =
            range("2026-10-05", "2026-11-01").split_months(today).with_weeks(&[d("2026-10-12"), d("2026-10-26")]);
        assert_eq!(split.weeks, vec![d("2026-10-12"), d("2026-10-26")]);
        assert_eq!(split.days, [listed("2026-10-05", "2026-10-11"), listed("2026-10-19", "2026-10-25")].concat());
    }

    #[test]
    fn every_day_is_read_once_with_any_weeks_sealed() {
        let today = d("2026-12-02");
        let mondays: Vec<NaiveDate> = d("2024-12-30").iter_weeks().take(110).collect();
        for (n, start) in d("2025-01-01").iter_days().take(700).step_by(5).enumerate() {
            // Every third week unsealed, at a different place each time.
            let sealed: Vec<NaiveDate> = mondays.iter().copied().skip(n % 3).step_by(3).collect();
            for len in [1_u64, 7, 8, 14, 30, 31, 45, 365] {
                let range = DayRange { from: start, to: start + Days::new(len - 1) };
                let split = range.split_months(today).with_weeks(&sealed);
                let mut days = split.days.clone();
                for month in &split.months {
                    days.extend(month.iter_days().take_while(|d| d < &next_month(*month) && *d <= range.to.max(today)));
                }
                for monday in &split.weeks {
                    assert!(sealed.contains(monday), "{range}: {monday} is not sealed");
                    days.extend(monday.iter_days().take(7));
                }
                days.retain(|d| *d <= range.to);
                days.sort();
                let expected: Vec<NaiveDate> = range.from.iter_days().take(len as usize).collect();
                assert_eq!(days, expected, "{range}");
            }
        }
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn days_count_back_from_today_inclusive() {
        let params = Params { days: Some("7".into()), ..Default::default() };
        assert_eq!(
            params.range(d("2026-11-27"), 30).ok(),
            Some(DayRange { from: d("2026-11-21"), to: d("2026-11-27") })
        );
        let range = DayRange { from: d("2026-11-21"), to: d("2026-11-27") };
        assert_eq!(range.previous(), DayRange { from: d("2026-11-14"), to: d("2026-11-20") });
        assert_eq!(range.year_before(), DayRange { from: d("2025-11-21"), to: d("2025-11-27") });
        let leap = DayRange { from: d("2028-02-01"), to: d("2028-02-29") };
        assert_eq!(leap.year_before(), DayRange { from: d("2027-02-01"), to: d("2027-02-28") });
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let today = d("2026-11-27");
        let error = |p: Params| match p.range(today, 30) {
            Err(QueryError::BadParameter { name, .. }) => name,
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(error(Params { days: Some("0".into()), ..Default::default() }), "days");
        assert_eq!(error(Params { days: Some("3651".into()), ..Default::default() }), "days");
        assert_eq!(error(Params { from: Some("2026-13-01".into()), ..Default::default() }), "from");
        assert_eq!(
            error(Params { from: Some("2026-11-20".into()), to: Some("2026-11-10".into()), ..Default::default() }),
            "from"
        );
        assert!(Params { source: Some("tv".into()), ..Default::default() }.source().is_err());
        for query in ["filter=page~=%00", "step=page%3D%3D/a%00", "dimension=prop:a%00", "x%00=1"] {
            match Params::from_query_string(query) {
                Err(QueryError::BadParameter { name: "query", reason }) => assert!(reason.contains("NUL"), "{reason}"),
                other => panic!("{query}: expected a NUL refused, got {other:?}"),
            }
        }
    }
}
