//! Postgres away: the services that only read the sites from it keep doing
//! their job from memory. Ingest stays ready and takes the events of the
//! sites it knows; the query service answers from its cache; everything
//! taken is counted once Postgres is back.

use std::time::Duration;

use analytics_e2e::{FaultStores, Pipeline, PipelineOptions};
use analytics_telemetry::Shutdown;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_postgres_away_ingest_stays_ready_and_query_answers_from_cache() {
    let stores = FaultStores::get().await;
    let pipeline = Pipeline::start_with(PipelineOptions {
        stores: Some(&stores.stores),
        query_cache_live_seconds: 120,
        ..Default::default()
    })
    .await;
    let overview = format!("{}/api/analytics/overview/?site={}", pipeline.query_url, pipeline.site_id);
    let cached = pipeline.http.get(&overview).bearer_auth(&pipeline.token).send().await.expect("query");
    assert_eq!(cached.status(), 200);
    let stop = Shutdown::new();
    let load = tokio::spawn({
        let (sender, stop) = (pipeline.sender(), stop.clone());
        async move { sender.pageviews_until(stop, 20).await }
    });
    pipeline
        .wait_for_metric(&pipeline.aggregator_ops_url, "analytics_aggregator_batches_total{outcome=\"applied\"}", 1.0)
        .await;

    stores.control("stop", "postgres").await;
    let accepted = "analytics_ingest_events_total{outcome=\"accepted\"}";
    let accepted_before = pipeline.metric(&pipeline.ingest_ops_url, accepted).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        for (service, url) in [("ingest", &pipeline.ingest_ops_url), ("query", &pipeline.query_ops_url)] {
            let ready = pipeline.http.get(format!("{url}/readyz")).send().await.expect("readyz");
            assert_eq!(ready.status(), 200, "{service} stays ready without Postgres");
            let report: Value = ready.json().await.expect("json");
            assert_eq!(report["status"], "degraded", "{service}: {report}");
        }
        let answer = pipeline.http.get(&overview).bearer_auth(&pipeline.token).send().await.expect("query");
        assert_eq!(answer.status(), 200, "the cached answer is served");
        assert_eq!(answer.headers().get("x-cache").and_then(|v| v.to_str().ok()), Some("hit"));
    }
    // (A loaded machine may make some Redis writes miss their deadline: those
    // 503s are retried by the client, and have nothing to do with Postgres.)
    let taken = pipeline.metric(&pipeline.ingest_ops_url, accepted).await - accepted_before;
    assert!(taken >= 1000.0, "ingest kept taking the known site's events while Postgres was away: {taken}");
    stores.control("start", "postgres").await;

    stop.cancel();
    let (accepted, _) = load.await.expect("load");
    pipeline.assert_exactly(accepted, &pipeline.forwarder_instances()).await;
    pipeline.stop().await;
}
