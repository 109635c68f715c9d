//! Chart buckets: consecutive days, weeks or months ending with the one that
//! holds today, in the Gregorian calendar (weeks from Monday) or the Persian
//! (Solar Hijri) calendar (weeks from Saturday), with labels in the
//! calendar's own month names.

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::params::DayRange;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Calendar {
    Gregorian,
    Persian,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub range: DayRange,
    pub label: String,
}

const GREGORIAN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `count` buckets of `period`, oldest first, the last one holding `today`.
pub fn buckets(period: Period, calendar: Calendar, count: u32, today: NaiveDate) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::with_capacity(count as usize);
    let mut start = first_day(period, calendar, today);
    for _ in 0..count {
        let next = next_start(period, calendar, start);
        let end = next.pred_opt().unwrap_or(start);
        out.push(Bucket { range: DayRange { from: start, to: end }, label: label(period, calendar, start) });
        start = match previous_start(period, calendar, start) {
            Some(previous) => previous,
            None => break,
        };
    }
    out.reverse();
    out
}

/// The buckets of `period` that cover `range`, oldest first, the first and the
/// last cut to the range: each point then counts only days that were asked for,
/// so the points add up to the range's own figures.
pub fn buckets_between(period: Period, calendar: Calendar, range: DayRange) -> Vec<Bucket> {
    let mut out = Vec::new();
    let mut start = first_day(period, calendar, range.from);
    while start <= range.to {
        let next = next_start(period, calendar, start);
        let from = start.max(range.from);
        let to = next.pred_opt().unwrap_or(start).min(range.to);
        out.push(Bucket { range: DayRange { from, to }, label: label(period, calendar, from) });
        if next <= start {
            break;
        }
        start = next;
    }
    out
}

fn first_day(period: Period, calendar: Calendar, day: NaiveDate) -> NaiveDate {
    match (period, calendar) {
        (Period::Daily, _) => day,
        (Period::Weekly, Calendar::Gregorian) => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
        (Period::Weekly, Calendar::Persian) => {
            day - Days::new(u64::from((day.weekday().num_days_from_monday() + 2) % 7))
        }
        (Period::Monthly, Calendar::Gregorian) => day.with_day(1).unwrap_or(day),
        (Period::Monthly, Calendar::Persian) => crate::persian::month_start(day),
    }
}

fn next_start(period: Period, calendar: Calendar, start: NaiveDate) -> NaiveDate {
    match (period, calendar) {
        (Period::Daily, _) => start + Days::new(1),
        (Period::Weekly, _) => start + Days::new(7),
        (Period::Monthly, Calendar::Gregorian) => start + Months::new(1),
        (Period::Monthly, Calendar::Persian) => crate::persian::next_month_start(start),
    }
}

fn previous_start(period: Period, calendar: Calendar, start: NaiveDate) -> Option<NaiveDate> {
    let day_before = start.pred_opt()?;
    Some(first_day(period, calendar, day_before))
}

fn label(period: Period, calendar: Calendar, start: NaiveDate) -> String {
    match calendar {
        Calendar::Gregorian => {
            let month = GREGORIAN_MONTHS[start.month0() as usize];
            match period {
                Period::Monthly => format!("{month} {}", start.year()),
                _ => format!("{} {month} {}", start.day(), start.year()),
            }
        }
        Calendar::Persian => {
            let date = crate::persian::PersianDate::from_gregorian(start);
            match period {
                Period::Monthly => format!("{} {}", date.month_name(), date.year),
                _ => format!("{} {} {}", date.day, date.month_name(), date.year),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn gregorian_weeks_start_on_monday_and_months_on_the_first() {
        let today = d("2026-11-27"); // a Friday
        let weeks = buckets(Period::Weekly, Calendar::Gregorian, 2, today);
        assert_eq!(weeks[1].range, DayRange { from: d("2026-11-23"), to: d("2026-11-29") });
        assert_eq!(weeks[0].range, DayRange { from: d("2026-11-16"), to: d("2026-11-22") });
        let months = buckets(Period::Monthly, Calendar::Gregorian, 3, today);
        assert_eq!(months[0].range, DayRange { from: d("2026-09-01"), to: d("2026-09-30") });
        assert_eq!(months[0].label, "September 2026");
        assert_eq!(months[2].range, DayRange { from: d("2026-11-01"), to: d("2026-11-30") });
        let days = buckets(Period::Daily, Calendar::Gregorian, 30, today);
        assert_eq!((days.len(), days[0].range.from, days[29].range.to), (30, d("2026-10-29"), today));
    }

    #[test]
    fn buckets_between_cut_the_first_and_last_to_the_range() {
        let range = DayRange { from: d("2026-11-25"), to: d("2026-12-02") }; // Wednesday to Wednesday
        let weeks = buckets_between(Period::Weekly, Calendar::Gregorian, range);
        let ranges: Vec<DayRange> = weeks.iter().map(|b| b.range).collect();
        assert_eq!(
            ranges,
            [
                DayRange { from: d("2026-11-25"), to: d("2026-11-29") },
                DayRange { from: d("2026-11-30"), to: d("2026-12-02") }
            ]
        );
        assert_eq!(weeks[0].label, "25 November 2026");
        let months = buckets_between(Period::Monthly, Calendar::Persian, range);
        // 1 Azar 1405 is 2026-11-22: one Persian month covers the whole range.
        assert_eq!(months.len(), 1);
        assert_eq!(months[0].range, range);
        let days = buckets_between(Period::Daily, Calendar::Gregorian, range);
        assert_eq!((days.len(), days[0].range.from, days[7].range.to), (8, range.from, range.to));
    }

    #[test]
    fn persian_weeks_start_on_saturday() {
        let weeks = buckets(Period::Weekly, Calendar::Persian, 1, d("2026-11-27"));
        assert_eq!(weeks[0].range, DayRange { from: d("2026-11-21"), to: d("2026-11-27") });
    }
}
