//! App traffic is counted on the device and system it really runs on, never
//! as a desktop by default, and per app version.

use std::time::Duration;

use analytics_events::{Event, EventBatch, EventType, Message, Source};
use analytics_testkit::eventually;

use crate::TestAggregator;

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
