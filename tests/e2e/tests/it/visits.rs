//! Visits from scripted visitors, with exact expected values: a bounce, a
//! multi-page visit, a visit split by a 31-minute gap, one crossing local
//! midnight, events out of order within a batch and across batches, an event
//! that joins two visits, and a redelivered batch that changes nothing.

use std::time::Duration;

use analytics_e2e::{Pipeline, eventually};
use analytics_events::{Event, EventBatch, Message};
use chrono::{Days, Utc};
use serde_json::{Value, json};

use crate::query_api::{WINDOWS, ok, pageview, tehran_noon};

const MIN: i64 = 60_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visits_bounces_durations_and_entry_exit_pages_are_exact() {
    let pipeline = Pipeline::start("Asia/Tehran").await;
    let site = pipeline.site_id.clone();
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Tehran).date_naive();
    let day = today.checked_sub_days(Days::new(1)).expect("yesterday");
    // Minutes from 10:00 local time on `day`.
    let ten = tehran_noon(day) - 120 * MIN;
    let at = |minutes: i64, path: &str, visitor: u64| pageview(&site, ten + minutes * MIN, path, "", WINDOWS, visitor);

    let first = vec![
        at(0, "/home", 1),
        at(0, "/a", 2),
        at(5, "/b", 2),
        at(20, "/c", 2),
        at(0, "/x", 3),
        at(31, "/y", 3),
        at(13 * 60 + 50, "/late", 4),  // 23:50
        at(14 * 60 + 10, "/later", 4), // 00:10 the next day
        at(20, "/c3", 5),
        at(0, "/a3", 5),
        at(10, "/b3", 5),
        at(0, "/x6", 6),
        at(0, "/p", 7),
        at(60, "/q", 7),
    ];
    publish(&pipeline, &uuid::Uuid::now_v7().to_string(), first).await;
    wait_for(&pipeline, 14).await;
    let second = vec![at(-15, "/w6", 6), at(30, "/r", 7)];
    let second_id = uuid::Uuid::now_v7().to_string();
    publish(&pipeline, &second_id, second.clone()).await;
    wait_for(&pipeline, 16).await;
    // A redelivery of the second batch: its id is known, nothing changes.
    publish(&pipeline, &second_id, second).await;
    pipeline
        .wait_for_metric(&pipeline.aggregator_ops_url, "analytics_aggregator_batches_total{outcome=\"duplicate\"}", 1.0)
        .await;

    let overview = ok(&pipeline, &format!("overview/?site={site}")).await;
    let engagement = |period: &Value| {
        json!([period["visits"], period["bounce_rate"], period["visit_duration"], period["views_per_visit"]])
    };
    // 8 visits: v1, v2, v3 twice (31 min), v4 (counted on the day it began),
    // v5, v6 (joined by an earlier event), v7 (joined by an event between).
    // Bounces: v1 and both of v3. Durations: 20+20+20+15+60 minutes.
    assert_eq!(engagement(&overview["yesterday"]), json!([8, 37.5, 1012.5, 2.0]), "{overview}");
    assert_eq!(engagement(&overview["today"]), json!([0, null, null, null]));

    let chart = ok(&pipeline, &format!("chart/?site={site}&period=daily&days=2")).await;
    let visits: Vec<&Value> = chart["points"].as_array().expect("points").iter().map(|p| &p["visits"]).collect();
    assert_eq!(visits, [&json!(8), &json!(0)]);

    let shared = &pipeline;
    let pages = |kind: &str| {
        let url = format!("breakdown/?site={site}&dimension={kind}&from={day}&to={day}");
        async move {
            let body = ok(shared, &url).await;
            let mut rows: Vec<(String, i64)> = body["results"]
                .as_array()
                .expect("results")
                .iter()
                .map(|r| (r["value"].as_str().expect("page").to_owned(), r["visits"].as_i64().expect("visits")))
                .collect();
            rows.sort();
            rows
        }
    };
    let each = |paths: &[&str]| {
        let mut rows: Vec<(String, i64)> = paths.iter().map(|p| (p.to_string(), 1)).collect();
        rows.sort();
        rows
    };
    assert_eq!(pages("entry_page").await, each(&["/home", "/a", "/x", "/y", "/late", "/a3", "/w6", "/p"]));
    assert_eq!(pages("exit_page").await, each(&["/home", "/c", "/x", "/y", "/later", "/c3", "/x6", "/q"]));

    // Live visitors: nobody in the last five minutes, then one.
    let realtime = || async { ok(shared, &format!("realtime/?site={site}")).await["visitors"].clone() };
    assert_eq!(realtime().await, 0);
    let now = Utc::now().timestamp_millis();
    publish(shared, &uuid::Uuid::now_v7().to_string(), vec![pageview(&site, now, "/now", "", WINDOWS, 8)]).await;
    eventually("one live visitor", Duration::from_secs(30), || async { (realtime().await == 1).then_some(()) }).await;
    pipeline.stop().await;
}

/// Publishes `events` as the batch `id`, as the forwarder would.
async fn publish(pipeline: &Pipeline, id: &str, events: Vec<Event>) {
    pipeline.publish(&EventBatch { batch_id: id.to_owned(), events }.encode_to_vec()).await;
}

async fn wait_for(pipeline: &Pipeline, pageviews: i64) {
    eventually(&format!("{pageviews} pageviews"), Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == pageviews).then_some(())
    })
    .await;
}
