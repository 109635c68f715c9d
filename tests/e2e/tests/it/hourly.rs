//! `chart?period=hourly`: each local hour of a day in the site's time zone,
//! with the daily points' figures, from the hourly rollups.

use std::time::Duration;

use analytics_e2e::{BROWSER_USER_AGENT, Pipeline, eventually};
use analytics_events::{Event, EventBatch, EventType, Message, Source};
use chrono::{Days, NaiveDate, TimeZone};
use chrono_tz::Asia::Tehran;
use serde_json::Value;

use crate::query_api::ok;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hourly_day_in_tehran_has_every_figure_per_hour() {
    let pipeline = Pipeline::start("Asia/Tehran").await;
    let today = chrono::Utc::now().with_timezone(&Tehran).date_naive();
    let yesterday = today.checked_sub_days(Days::new(1)).expect("yesterday");
    let before = today.checked_sub_days(Days::new(2)).expect("the day before");
    let at = |day: NaiveDate, hour: u32, minute: u32| {
        let local = day.and_hms_opt(hour, minute, 0).expect("a time");
        Tehran.from_local_datetime(&local).single().expect("unambiguous").timestamp_millis()
    };
    let view = |timestamp_ms: i64, visitor: u64| Event {
        site_id: pipeline.site_id.clone(),
        r#type: EventType::Pageview as i32,
        timestamp_ms,
        received_ms: timestamp_ms,
        path: "/".into(),
        source: Source::Web as i32,
        user_agent: BROWSER_USER_AGENT.into(),
        visitor_id: visitor,
        ..Default::default()
    };
    let events = vec![
        view(at(yesterday, 9, 10), 1),
        view(at(yesterday, 9, 20), 1),  // the same visit: two pageviews, no bounce
        view(at(yesterday, 23, 50), 2), // a bounce at the day's last hour
        view(at(before, 9, 30), 3),     // the previous period's 09:00
    ];
    pipeline.publish(&EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events }.encode_to_vec()).await;
    eventually("all four counted", Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == 4).then_some(())
    })
    .await;

    let site = &pipeline.site_id;
    let chart = ok(
        &pipeline,
        &format!("chart/?site={site}&period=hourly&from={yesterday}&to={yesterday}&compare=previous_period"),
    )
    .await;
    assert_eq!(chart["period"], "hourly");
    assert_eq!(chart["timezone"], "Asia/Tehran");
    let points = chart["points"].as_array().expect("points");
    let labels: Vec<&str> = points.iter().map(|p| p["label"].as_str().expect("label")).collect();
    assert_eq!(labels.len(), 24);
    assert_eq!((labels[0], labels[9], labels[23]), ("00:00", "09:00", "23:00"));
    let figures =
        |p: &Value| (p["pageviews"].as_i64(), p["visitors"].as_i64(), p["visits"].as_i64(), p["bounce_rate"].as_f64());
    assert_eq!(figures(&points[9]), (Some(2), Some(1), Some(1), Some(0.0)));
    assert_eq!(figures(&points[23]), (Some(1), Some(1), Some(1), Some(100.0)));
    assert_eq!(points[9]["previous"]["pageviews"], 1, "09:00 of the day before");
    let elsewhere: i64 = points
        .iter()
        .enumerate()
        .filter(|(i, _)| ![9, 23].contains(i))
        .map(|(_, p)| p["pageviews"].as_i64().unwrap_or(-1))
        .sum();
    assert_eq!(elsewhere, 0);
    assert!(points.iter().all(|p| p["start"] == yesterday.to_string()));

    let today_only = ok(&pipeline, &format!("chart/?site={site}&period=hourly")).await;
    assert_eq!(today_only["points"].as_array().map(Vec::len), Some(24), "today by default");
    let refused = pipeline.query(&format!("chart/?site={site}&period=hourly&days=8")).await;
    assert_eq!(refused.status(), 400, "at most 7 days of hours");
    pipeline.stop().await;
}
