//! The app's release health per version, from the app events that report a
//! response status, through the aggregator to the query API.

use std::time::Duration;

use analytics_e2e::{Pipeline, eventually};
use analytics_events::{Event, EventBatch, EventType, Message, Source, Timing};
use serde_json::json;

use crate::query_api::ok;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_versions_answer_requests_error_rates_and_response_times() {
    let pipeline = Pipeline::start("UTC").await;
    let now = chrono::Utc::now().timestamp_millis();
    let request = |version: &str, status: &str, response_ms: u32| Event {
        site_id: pipeline.site_id.clone(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: now,
        received_ms: now,
        path: "/api/orders".into(),
        source: Source::App as i32,
        user_agent: "okhttp/4.12.0".into(),
        app_version: version.into(),
        props: [("status".to_owned(), status.to_owned())].into(),
        timing: Some(Timing { response_ms: Some(response_ms), ..Default::default() }),
        visitor_id: 11,
        ..Default::default()
    };
    let mut events: Vec<Event> = (0..8).map(|_| request("2.1.0", "200", 100)).collect();
    events.push(request("2.1.0", "404", 100));
    events.push(request("2.1.0", "502", 1000));
    events.push(request("2.0.0", "200", 40));
    let batch = EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events };
    pipeline.publish(&batch.encode_to_vec()).await;
    let query = "app-versions/?site={site}&days=1".replace("{site}", &pipeline.site_id);
    let answer = eventually("the requests counted", Duration::from_secs(30), || async {
        let answer = ok(&pipeline, &query).await;
        (answer["results"].as_array().map(Vec::len) == Some(2)).then_some(answer)
    })
    .await;
    let results = &answer["results"];
    // Most requests first; rates of the requests with a status, one decimal.
    assert_eq!(
        (
            &results[0]["version"],
            &results[0]["requests"],
            &results[0]["client_error_rate"],
            &results[0]["server_error_rate"]
        ),
        (&json!("2.1.0"), &json!(10), &json!(10.0), &json!(10.0))
    );
    assert_eq!((&results[0]["response"]["count"], &results[0]["response"]["avg_ms"]), (&json!(10), &json!(190)));
    let p50 = results[0]["response"]["p50_ms"].as_f64().expect("p50");
    let p95 = results[0]["response"]["p95_ms"].as_f64().expect("p95");
    assert!((p50 - 100.0).abs() <= 10.0 && (p95 - 1000.0).abs() <= 100.0, "p50 {p50}, p95 {p95}");
    assert_eq!(
        (
            &results[1]["version"],
            &results[1]["requests"],
            &results[1]["server_error_rate"],
            &results[1]["response"]["avg_ms"]
        ),
        (&json!("2.0.0"), &json!(1), &json!(0.0), &json!(40))
    );

    // The overview lists the app's versions with its source totals.
    let overview = ok(&pipeline, &format!("overview/?site={}", pipeline.site_id)).await;
    let sources = overview["by_source"].as_array().expect("by_source");
    let app = sources.iter().find(|s| s["source"] == "app").expect("an app row");
    assert_eq!(app["pageviews"], 11);
    let versions: Vec<(&str, i64)> = app["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| (v["version"].as_str().expect("version"), v["pageviews"].as_i64().expect("pageviews")))
        .collect();
    assert_eq!(versions, vec![("2.1.0", 10), ("2.0.0", 1)]);
    assert!(sources.iter().filter(|s| s["source"] != "app").all(|s| s.get("versions").is_none()));

    // Only the parameters it takes.
    let refused = pipeline.query(&format!("{query}&source=app")).await;
    assert_eq!(refused.status(), 400);
    pipeline.stop().await;
}
