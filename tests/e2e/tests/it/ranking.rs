//! Top values are exact whatever the day of the month: ranked from month rows
//! as bounds and the exact counts of the few values that may place, they
//! equal a ranking of every value, even when a value's month is far bigger
//! than its days in the range.

use std::time::Duration;

use analytics_e2e::{BROWSER_USER_AGENT, Pipeline, eventually};
use analytics_events::{Event, EventBatch, EventType, Message, Source};
use chrono::{Datelike, Days, Months, NaiveDate, TimeZone, Utc};

use crate::query_api::ok;

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
    let total = events.len() as i64;
    pipeline.publish(&EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events }.encode_to_vec()).await;
    eventually("all counted", Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == total).then_some(())
    })
    .await;

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
    // The whole month: /early first.
    let month = format!(
        "from={first}&to={}",
        first.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).expect("month end")
    );
    let month_top = paths(&ok(&pipeline, &format!("top-pages/?site={site}&{month}&limit=1")).await);
    assert_eq!(month_top, [("/early".to_owned(), 51)]);
    pipeline.stop().await;
}
