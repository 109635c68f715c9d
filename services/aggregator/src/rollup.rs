//! From events to rollup rows: each event is placed in its site's local day
//! and hour (IANA zone, so half-hour offsets and DST are exact).

use analytics_events::{Event, EventType, Source};
use chrono::{NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

/// One event reduced to what the hourly totals need.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlyRow {
    pub site_id: Uuid,
    pub local_day: NaiveDate,
    pub local_hour: i16,
    pub source: &'static str,
    pub is_pageview: bool,
    pub visitor_id: i64,
}

/// The local day and hour of a UTC instant in `tz`.
pub fn local_bucket(timestamp_ms: i64, tz: Tz) -> Option<(NaiveDate, i16)> {
    let local = Utc.timestamp_millis_opt(timestamp_ms).single()?.with_timezone(&tz);
    Some((local.date_naive(), local.hour() as i16))
}

pub fn source_label(event: &Event) -> &'static str {
    match event.source() {
        Source::App => "app",
        Source::Web | Source::Unspecified => "web",
    }
}

pub fn hourly_row(event: &Event, site_id: Uuid, tz: Tz) -> Option<HourlyRow> {
    let (local_day, local_hour) = local_bucket(event.timestamp_ms, tz)?;
    Some(HourlyRow {
        site_id,
        local_day,
        local_hour,
        source: source_label(event),
        is_pageview: matches!(event.r#type(), EventType::Pageview | EventType::ScreenView),
        // Postgres has no unsigned 64-bit type; the bits are what matter to the sketch.
        visitor_id: event.visitor_id as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339).expect("valid").timestamp_millis()
    }

    #[test]
    fn tehran_half_hour_offset_moves_late_utc_evening_to_next_day() {
        let tehran: Tz = "Asia/Tehran".parse().expect("zone");
        let day = |d| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
        // 20:29 UTC is 23:59 in Tehran (UTC+3:30), 20:30 UTC is 00:00 next day.
        assert_eq!(local_bucket(ms("2026-11-26T20:29:00Z"), tehran), Some((day("2026-11-26"), 23)));
        assert_eq!(local_bucket(ms("2026-11-26T20:30:00Z"), tehran), Some((day("2026-11-27"), 0)));
        assert_eq!(local_bucket(ms("2026-11-26T20:45:00Z"), tehran), Some((day("2026-11-27"), 0)));
    }

    #[test]
    fn dst_change_keeps_hours_exact() {
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let day = NaiveDate::from_ymd_opt(2026, 3, 29).expect("date");
        // Clocks jump from 02:00 to 03:00 local at 01:00 UTC.
        assert_eq!(local_bucket(ms("2026-03-29T00:59:00Z"), berlin), Some((day, 1)));
        assert_eq!(local_bucket(ms("2026-03-29T01:00:00Z"), berlin), Some((day, 3)));
    }
}
