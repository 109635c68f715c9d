//! A pageview's whole path: ingest -> Redis -> forwarder -> RabbitMQ ->
//! aggregator -> Postgres -> query.

use std::time::Duration;

use analytics_e2e::{Pipeline, eventually};

use crate::pageviews;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_pageviews_are_counted_exactly_once() {
    let pipeline = Pipeline::start("Asia/Tehran").await;
    for _ in 0..10 {
        let response = pipeline.send(pageviews(&pipeline.site_id, 100), false).await;
        assert_eq!(response.status(), 202);
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["accepted"], 100);
        assert_eq!(body["rejected"], serde_json::json!([]));
    }

    let overview = eventually("1,000 pageviews in the overview", Duration::from_secs(30), || async {
        let overview = pipeline.overview().await;
        (overview["total"]["pageviews"] == 1000).then_some(overview)
    })
    .await;
    assert_eq!(overview["today"]["pageviews"], 1000);
    assert_eq!(overview["today"]["events"], 0);
    assert_eq!(overview["timezone"], "Asia/Tehran");
    // One client address and user agent: one visitor.
    assert_eq!(overview["today"]["visitors"], 1);

    // Nothing is left anywhere that could still add to the count.
    let forwarder = pipeline.forwarder_ops_url.clone();
    eventually("queues drained", Duration::from_secs(10), || async {
        let redis = pipeline.metric(&forwarder, "analytics_queue_depth{queue=\"redis\"}").await;
        let inflight = pipeline.metric(&forwarder, "analytics_inflight_batches").await;
        let aggregate = pipeline.metric(&forwarder, "analytics_queue_depth{queue=\"aggregate\"}").await;
        let confirmed = pipeline.metric(&forwarder, "analytics_forwarder_events_total{outcome=\"confirmed\"}").await;
        (redis == 0.0 && inflight == 0.0 && aggregate == 0.0 && confirmed == 1000.0).then_some(())
    })
    .await;
    let counted =
        pipeline.metric(&pipeline.aggregator_ops_url, "analytics_aggregator_events_total{outcome=\"counted\"}").await;
    assert_eq!(counted, 1000.0);
    assert_eq!(pipeline.overview().await["total"]["pageviews"], 1000, "not one more");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_are_distinct_clients_and_sources_are_split() {
    let pipeline = Pipeline::start("UTC").await;
    // Server-side forwarding: 10 clients, 3 pageviews each, two of them from an app.
    let events: Vec<serde_json::Value> = (0..30)
        .map(|i| {
            let client = i % 10;
            serde_json::json!({
                "site": pipeline.site_id, "type": "pageview", "path": "/home",
                "ip": format!("203.0.113.{client}"),
                "user_agent": if client < 2 { "Dart/3.4 (dart:io)" } else { "Mozilla/5.0 (X11; Linux x86_64)" },
            })
        })
        .chain(std::iter::once(serde_json::json!({
            "site": pipeline.site_id, "type": "event", "name": "signup", "path": "/join",
            "ip": "203.0.113.3", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        })))
        .collect();
    let response = pipeline.send(serde_json::json!({ "events": events }), true).await;
    assert_eq!(response.status(), 202);

    let overview = eventually("31 events counted", Duration::from_secs(30), || async {
        let overview = pipeline.overview().await;
        (overview["total"]["events"] == 1).then_some(overview)
    })
    .await;
    assert_eq!(overview["total"]["pageviews"], 30);
    assert_eq!(overview["total"]["visitors"], 10);
    let by_source = overview["by_source"].as_array().expect("by_source list");
    let source = |name: &str| by_source.iter().find(|s| s["source"] == name).cloned().expect("source present");
    assert_eq!(source("app")["pageviews"], 6);
    assert_eq!(source("app")["visitors"], 2);
    assert_eq!(source("web")["pageviews"], 24);
    assert_eq!(source("web")["visitors"], 8);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_report_health_readiness_and_metrics() {
    let pipeline = Pipeline::start("UTC").await;
    for base in
        [&pipeline.ingest_ops_url, &pipeline.query_ops_url, &pipeline.forwarder_ops_url, &pipeline.aggregator_ops_url]
    {
        let health = pipeline.http.get(format!("{base}/healthz")).send().await.expect("healthz");
        assert_eq!(health.status(), 200, "{base}/healthz");
        eventually(&format!("{base}/readyz"), Duration::from_secs(10), || async {
            let ready = pipeline.http.get(format!("{base}/readyz")).send().await.ok()?;
            (ready.status() == 200).then_some(())
        })
        .await;
    }
    let metrics = |url: String| {
        let http = pipeline.http.clone();
        async move { http.get(format!("{url}/metrics")).send().await.expect("metrics").text().await.expect("text") }
    };
    // Only on the ops ports: the public ones serve the API alone.
    for public in [&pipeline.ingest_url, &pipeline.query_url] {
        let hidden = pipeline.http.get(format!("{public}/metrics")).send().await.expect("public port");
        assert_eq!(hidden.status(), 404, "{public}/metrics");
    }
    let ingest = metrics(pipeline.ingest_ops_url.clone()).await;
    assert!(ingest.contains("analytics_ingest_events_total{outcome=\"backpressure\"} 0"));
    assert!(ingest.contains("analytics_ingest_request_duration_seconds"));
    let forwarder = metrics(pipeline.forwarder_ops_url.clone()).await;
    for name in ["analytics_queue_depth", "analytics_inflight_batches", "analytics_forwarder_batches_total"] {
        assert!(forwarder.contains(name), "forwarder exposes {name}");
    }
    let aggregator = metrics(pipeline.aggregator_ops_url.clone()).await;
    assert!(aggregator.contains("analytics_aggregator_batches_total{outcome=\"poison\"} 0"));
    pipeline.stop().await;
}
