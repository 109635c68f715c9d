//! Top values are exact whatever the day of the month: ranked from month rows
//! as bounds and the exact counts of the few values that may place, they
//! equal a ranking of every value, even when a value's month is far bigger
//! than its days in the range.

use std::time::Duration;

use analytics_e2e::{BROWSER_USER_AGENT, Pipeline, eventually};
use analytics_events::{Event, EventBatch, EventType, Message, Source, Timing};
use chrono::{Datelike, Days, Months, NaiveDate, TimeZone, Utc};

use crate::query_api::ok;

/// Publishes pageviews (each one a pageview) and waits until all are counted.
async fn publish_and_count(pipeline: &Pipeline, events: Vec<Event>) {
    let total = events.len() as i64;
    pipeline.publish(&EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events }.encode_to_vec()).await;
    eventually("all counted", Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == total).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_values_over_part_of_a_month_are_exact() {
    let pipeline = Pipeline::start("UTC").await;
    // A closed month well inside retention: the one before last.
    let today = Utc::now().date_naive();
    let first = today.with_day(1).and_then(|d| d.checked_sub_months(Months::new(2))).expect("a month");
    let day = |n: u64| first + Days::new(n);
    let view = |on: NaiveDate, path: String, visitor: u64| Event {
        site_id: pipeline.site_id.clone(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: Utc.from_utc_datetime(&on.and_hms_opt(12, 0, 0).expect("noon")).timestamp_millis(),
        received_ms: Utc::now().timestamp_millis(),
        path,
        source: Source::Web as i32,
        user_agent: BROWSER_USER_AGENT.into(),
        // Every view timed: speed ranks pages by timed views the same way.
        timing: Some(Timing { load_ms: Some(300), ..Default::default() }),
        visitor_id: visitor,
        ..Default::default()
    };
    let mut events = Vec::new();
    // Big in its month, small in the range (the 11th to the 20th).
    events.extend((0..50).map(|v| view(day(2), "/early".into(), v)));
    events.push(view(day(12), "/early".into(), 1));
    events.extend((0..6).map(|v| view(day(15), "/mid-b".into(), v)));
    events.extend((0..5).map(|v| view(day(15), "/mid-a".into(), v)));
    // Thirty pages tied at 2, more than the first round reads exactly.
    for page in 0..30 {
        events.extend((0..2).map(|v| view(day(11), format!("/f{page:02}"), v)));
    }
    publish_and_count(&pipeline, events).await;

    let site = &pipeline.site_id;
    let range = format!("from={}&to={}", day(10), day(19));
    let paths = |answer: &serde_json::Value| -> Vec<(String, i64)> {
        answer["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| (r["path"].as_str().unwrap_or_default().to_owned(), r["pageviews"].as_i64().unwrap_or(-1)))
            .collect()
    };
    let top3 = paths(&ok(&pipeline, &format!("top-pages/?site={site}&{range}&limit=3")).await);
    assert_eq!(top3, [("/mid-b".to_owned(), 6), ("/mid-a".to_owned(), 5), ("/f00".to_owned(), 2)]);
    let every = paths(&ok(&pipeline, &format!("top-pages/?site={site}&{range}&limit=100")).await);
    assert_eq!(every.len(), 33, "every page seen in the range, /early with its one pageview");
    assert_eq!(every[..3], top3[..], "the top three of a ranking of every value");
    assert_eq!(every.last(), Some(&("/early".to_owned(), 1)));
    // Speed's pages, ranked by timed views the same way.
    let speed = ok(&pipeline, &format!("speed/?site={site}&{range}&limit=3")).await;
    let mut timed: Vec<(String, i64)> = speed["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .map(|p| (p["path"].as_str().unwrap_or_default().to_owned(), p["load_ms"]["count"].as_i64().unwrap_or(-1)))
        .collect();
    timed.sort();
    assert_eq!(timed, [("/f00".to_owned(), 2), ("/mid-a".to_owned(), 5), ("/mid-b".to_owned(), 6)]);
    // The whole month: /early first.
    let month = format!(
        "from={first}&to={}",
        first.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).expect("month end")
    );
    let month_top = paths(&ok(&pipeline, &format!("top-pages/?site={site}&{month}&limit=1")).await);
    assert_eq!(month_top, [("/early".to_owned(), 51)]);
    pipeline.stop().await;
}

/// Ranges that start and end on every kind of boundary read every day once:
/// a month's last and first day, a Monday-to-Sunday week, a day when the
/// clocks change, Esfand's last day and Nowruz, a whole closed month, and this
/// month so far. Each endpoint's figures add up to the pageviews the test
/// sent on those local days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_on_every_kind_of_boundary_count_each_day_once() {
    let pipeline = Pipeline::start("Europe/Berlin").await;
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    let mut days: Vec<NaiveDate> =
        ["2026-03-19", "2026-03-20", "2026-03-21", "2026-03-22"].iter().map(|s| d(s)).collect();
    days.extend(d("2026-10-24").iter_days().take_while(|day| *day <= d("2026-11-02")));
    days.extend(d("2026-11-29").iter_days().take_while(|day| *day <= d("2026-12-01")));
    days.push(today.with_day(1).expect("first"));
    days.push(today);
    days.sort();
    days.dedup();
    days.retain(|day| *day <= today);
    // A distinct number of pageviews per day, over three pages.
    let views_on = |day: NaiveDate| u64::from(day.ordinal() % 5) + 1;
    let page_of = |day: NaiveDate| format!("/p{}", day.day() % 3);
    let mut events = Vec::new();
    for day in &days {
        for visitor in 0..views_on(*day) {
            // Noon UTC is the same local day in Berlin, summer or winter.
            let at = Utc.from_utc_datetime(&day.and_hms_opt(12, 0, 0).expect("noon"));
            events.push(Event {
                site_id: pipeline.site_id.clone(),
                r#type: EventType::Pageview as i32,
                timestamp_ms: at.timestamp_millis().min(Utc::now().timestamp_millis()),
                received_ms: Utc::now().timestamp_millis(),
                path: page_of(*day),
                source: Source::Web as i32,
                user_agent: BROWSER_USER_AGENT.into(),
                visitor_id: visitor,
                ..Default::default()
            });
        }
    }
    publish_and_count(&pipeline, events).await;

    let site = &pipeline.site_id;
    let ranges = [
        ("a month's last and first day", d("2026-10-31"), d("2026-11-01")),
        ("a whole closed month", d("2026-11-01"), d("2026-11-30")),
        ("a Monday-to-Sunday week", d("2026-10-26"), d("2026-11-01")),
        ("the day the clocks went back", d("2026-10-25"), d("2026-10-25")),
        ("Esfand's last day and Nowruz", d("2026-03-20"), d("2026-03-21")),
        ("Esfand's last days", d("2026-03-01"), d("2026-03-20")),
        ("from March to November", d("2026-03-20"), d("2026-11-01")),
        ("this month so far", today.with_day(1).expect("first"), today),
    ];
    for (what, from, to) in ranges {
        let expected: i64 = days.iter().filter(|day| (from..=to).contains(*day)).map(|day| views_on(*day) as i64).sum();
        let range = format!("site={site}&from={from}&to={to}");
        let sum = |answer: &serde_json::Value, key: &str| -> i64 {
            answer[key].as_array().expect(key).iter().map(|r| r["pageviews"].as_i64().unwrap_or(0)).sum()
        };
        let overview = ok(&pipeline, &format!("overview/?{range}")).await;
        assert_eq!(overview["range"]["pageviews"], expected, "{what}: overview");
        let pages = ok(&pipeline, &format!("top-pages/?{range}&limit=100")).await;
        assert_eq!(sum(&pages, "results"), expected, "{what}: top-pages");
        let browsers = ok(&pipeline, &format!("breakdown/?{range}&dimension=browser")).await;
        assert_eq!(sum(&browsers, "results"), expected, "{what}: breakdown");
        for period in ["daily", "weekly", "monthly"] {
            for calendar in ["gregorian", "persian"] {
                let chart = ok(&pipeline, &format!("chart/?{range}&period={period}&calendar={calendar}")).await;
                assert_eq!(sum(&chart, "points"), expected, "{what}: chart {period} {calendar}");
            }
        }
        // The top page alone: exact, whichever way the month rows bound it.
        let top = ok(&pipeline, &format!("top-pages/?{range}&limit=1")).await;
        let best = pages["results"].as_array().and_then(|r| r.first()).map(|r| r["pageviews"].clone());
        assert_eq!(top["results"].as_array().and_then(|r| r.first()).map(|r| r["pageviews"].clone()), best, "{what}");
    }
    pipeline.stop().await;
}
