//! The Persian (Solar Hijri) calendar, from ICU4X: which Persian month a day
//! falls in, where months start, and how they are named. Month lengths and
//! leap years come from the library, never from a table of ours.

use chrono::{Datelike, NaiveDate};
use icu_calendar::cal::Persian;
use icu_calendar::{Date, Iso};

/// Month names as CLDR gives them for Persian (`fa`), stand-alone wide form.
const MONTH_NAMES: [&str; 12] =
    ["فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند"];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersianDate {
    pub year: i32,
    /// 1 (Farvardin) to 12 (Esfand).
    pub month: u8,
    pub day: u8,
}

impl PersianDate {
    pub fn from_gregorian(day: NaiveDate) -> Self {
        let iso = Date::try_new_iso(day.year(), day.month() as u8, day.day() as u8)
            .expect("every chrono date is a valid ISO date");
        let persian = iso.to_calendar(Persian);
        Self { year: persian.era_year().year, month: persian.month().ordinal, day: persian.day_of_month().0 }
    }

    pub fn to_gregorian(self) -> Option<NaiveDate> {
        let iso: Date<Iso> = Date::try_new_persian(self.year, self.month, self.day).ok()?.to_calendar(Iso);
        NaiveDate::from_ymd_opt(iso.era_year().year, u32::from(iso.month().ordinal), u32::from(iso.day_of_month().0))
    }

    pub fn month_name(&self) -> &'static str {
        MONTH_NAMES[usize::from(self.month.clamp(1, 12) - 1)]
    }
}

/// The Gregorian date of the first day of the Persian month holding `day`.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    let date = PersianDate::from_gregorian(day);
    PersianDate { day: 1, ..date }.to_gregorian().unwrap_or(day)
}

/// The Gregorian date of the first day of the Persian month after the one
/// starting at `start`.
pub fn next_month_start(start: NaiveDate) -> NaiveDate {
    let date = PersianDate::from_gregorian(start);
    let (year, month) = if date.month >= 12 { (date.year + 1, 1) } else { (date.year, date.month + 1) };
    PersianDate { year, month, day: 1 }.to_gregorian().unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn known_dates_and_month_lengths() {
        assert_eq!(PersianDate::from_gregorian(d("2025-03-21")), PersianDate { year: 1404, month: 1, day: 1 });
        assert_eq!(PersianDate::from_gregorian(d("2026-11-27")), PersianDate { year: 1405, month: 9, day: 6 });
        assert_eq!(PersianDate::from_gregorian(d("2026-11-27")).month_name(), "آذر");
        assert_eq!(month_start(d("2026-03-01")), d("2026-02-20"), "1 Esfand 1404");
        // Esfand 1403 (a leap year) has 30 days, Esfand 1404 has 29.
        assert_eq!(next_month_start(d("2025-02-19")), d("2025-03-21"));
        assert_eq!((next_month_start(d("2025-02-19")) - d("2025-02-19")).num_days(), 30);
        assert_eq!((next_month_start(d("2026-02-20")) - d("2026-02-20")).num_days(), 29);
    }
}
