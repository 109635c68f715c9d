//! App traffic is counted on the device and system it really runs on, never
//! as a desktop by default, and per app version.

use std::time::Duration;

use analytics_events::{Event, EventBatch, EventType, Message, Source};
use analytics_testkit::eventually;

use crate::TestAggregator;

/// (version, requests, client errors, server errors, timed, sum of ms, histogram)
type HealthRow = (String, i64, i64, i64, i64, i64, Vec<i64>);

struct App {
    user_agent: &'static str,
    platform: &'static str,
    version: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_events_get_the_device_their_client_gives_away_and_count_per_version() {
    let aggregator = TestAggregator::start("UTC").await;
    let now = chrono::Utc::now().timestamp_millis();
    let event = |user_agent: &str, source: Source, platform: &str, version: &str| Event {
        site_id: aggregator.site_id.clone(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: now,
        received_ms: now,
        path: "/home".into(),
        source: source as i32,
        user_agent: user_agent.into(),
        app_platform: platform.into(),
        app_version: version.into(),
        visitor_id: 7,
        ..Default::default()
    };
    let apps = [
        App { user_agent: "okhttp/4.12.0", platform: "", version: "2.1.0" },
        App { user_agent: "Shop/2.1 CFNetwork/1408.0.4 Darwin/22.5.0", platform: "", version: "2.1.0" },
        App { user_agent: "Dart/3.4 (dart:io)", platform: "", version: "2.0.0" },
        App { user_agent: "Dart/3.4 (dart:io)", platform: "ipados", version: "2.1.0" },
        App { user_agent: "Dart/3.4 (dart:io)", platform: "android", version: "" },
    ];
    let mut events: Vec<Event> = apps.iter().map(|a| event(a.user_agent, Source::App, a.platform, a.version)).collect();
    // A browser nothing can be told about: unknown, and web (not mobile web).
    events.push(event("SomeBrowser/1.0", Source::Web, "", "4.0.0"));
    let batch = EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events };
    aggregator.publish(&batch.encode_to_vec()).await;
    eventually("the batch applied", Duration::from_secs(30), || async {
        (aggregator.metric("analytics_aggregator_batches_total{outcome=\"applied\"}").await == 1.0).then_some(())
    })
    .await;

    let db = aggregator.namespace.db().await;
    let site = uuid::Uuid::parse_str(&aggregator.site_id).expect("uuid");
    let rows: Vec<(String, String, String, i64)> = db
        .query(
            "SELECT dimension, source, value, pageviews FROM daily_dimensions
             WHERE site_id = $1 AND dimension IN ('device', 'os', 'app_version') ORDER BY 1, 2, 3",
            &[&site],
        )
        .await
        .expect("rows")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let row = |d: &str, s: &str, v: &str, n: i64| (d.to_owned(), s.to_owned(), v.to_owned(), n);
    assert_eq!(
        rows,
        vec![
            // Versions of app traffic only; an app event without one has no row.
            row("app_version", "app", "2.0.0", 1),
            row("app_version", "app", "2.1.0", 3),
            row("device", "app", "mobile", 3),
            row("device", "app", "tablet", 1),
            row("device", "app", "unknown", 1),
            row("device", "web", "unknown", 1),
            row("os", "app", "Android", 2),
            row("os", "app", "Other", 1),
            row("os", "app", "iOS", 2),
            row("os", "web", "Other", 1),
        ]
    );
    aggregator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_health_counts_requests_errors_and_response_times_per_version() {
    let aggregator = TestAggregator::start("UTC").await;
    let now = chrono::Utc::now().timestamp_millis();
    let request = |version: &str, status: Option<&str>, response_ms: Option<u32>, source: Source| Event {
        site_id: aggregator.site_id.clone(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: now,
        received_ms: now,
        path: "/api/orders".into(),
        source: source as i32,
        user_agent: "okhttp/4.12.0".into(),
        app_version: version.into(),
        props: status.map(|s| [("status".to_owned(), s.to_owned())].into()).unwrap_or_default(),
        timing: response_ms.map(|ms| analytics_events::Timing { response_ms: Some(ms), ..Default::default() }),
        visitor_id: 3,
        ..Default::default()
    };
    let events = vec![
        request("2.1.0", Some("200"), Some(100), Source::App),
        request("2.1.0", Some("503"), Some(900), Source::App),
        request("2.1.0", Some("404"), None, Source::App),
        request("2.0.0", Some("200"), Some(50), Source::App),
        // Not release health: no status, no version, or not the app.
        request("2.0.0", None, Some(70), Source::App),
        request("", Some("500"), Some(70), Source::App),
        request("2.0.0", Some("500"), Some(70), Source::Web),
    ];
    let batch = EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events };
    aggregator.publish(&batch.encode_to_vec()).await;
    eventually("the batch applied", Duration::from_secs(30), || async {
        (aggregator.metric("analytics_aggregator_batches_total{outcome=\"applied\"}").await == 1.0).then_some(())
    })
    .await;

    let db = aggregator.namespace.db().await;
    let site = uuid::Uuid::parse_str(&aggregator.site_id).expect("uuid");
    let rows: Vec<HealthRow> = db
        .query(
            "SELECT version, requests, client_errors, server_errors, timed, sum_ms, histogram
             FROM daily_app_versions WHERE site_id = $1 ORDER BY version",
            &[&site],
        )
        .await
        .expect("rows")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)))
        .collect();
    let histogram = |values: &[u32]| {
        let mut h = vec![0i64; values.iter().map(|&v| analytics_events::speed::bucket_of(v)).max().unwrap_or(0) + 1];
        values.iter().for_each(|&v| h[analytics_events::speed::bucket_of(v)] += 1);
        h
    };
    assert_eq!(
        rows,
        vec![
            ("2.0.0".to_owned(), 1, 0, 0, 1, 50, histogram(&[50])),
            ("2.1.0".to_owned(), 3, 1, 1, 2, 1000, histogram(&[100, 900])),
        ]
    );
    aggregator.stop().await;
}
