//! Counted equals acknowledged, whatever crashes: steady traffic from a
//! client that retries refused requests with the same Idempotency-Key, while
//! every service and every store is killed -9 in turn and restarted.

use std::time::Duration;

use analytics_e2e::{FaultStores, Instances, Pipeline, PipelineOptions, ServiceProcess};
use analytics_telemetry::Shutdown;
use analytics_testkit::within;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_every_service_and_store_killed_in_turn_under_load() {
    let stores = FaultStores::get().await;
    let mut pipeline = Pipeline::start_with(PipelineOptions {
        stores: Some(&stores.stores),
        ingest: Instances::Processes(1),
        forwarders: Instances::Processes(1),
        aggregators: Instances::Processes(1),
        ..Default::default()
    })
    .await;
    let stop = Shutdown::new();
    let load = tokio::spawn({
        let (sender, stop) = (pipeline.sender(), stop.clone());
        async move { sender.pageviews_until(stop, 20).await }
    });
    counting_goes_on(&pipeline, "the start").await;

    for service in ["ingest", "forwarder", "aggregator"] {
        let process = match service {
            "ingest" => &mut pipeline.ingest_processes[0],
            "forwarder" => &mut pipeline.forwarder_processes[0],
            _ => &mut pipeline.aggregator_processes[0],
        };
        crash_and_restart(process).await;
        counting_goes_on(&pipeline, service).await;
    }
    for store in ["redis", "rabbitmq", "postgres"] {
        stores.control("kill", store).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        stores.control("start", store).await;
        counting_goes_on(&pipeline, store).await;
    }

    stop.cancel();
    let (accepted, refused) = load.await.expect("load");
    eprintln!("chaos: {accepted} pageviews accepted, {refused} attempts refused and retried");
    pipeline.assert_exactly(accepted, &pipeline.forwarder_instances()).await;
    pipeline.stop().await;
}

async fn crash_and_restart(process: &mut ServiceProcess) {
    process.kill9().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    process.restart();
    process.wait_ready().await;
}

/// Waits until more pageviews are counted than before: the whole pipeline
/// moves again after the crash of `what`. Fails with what the services last
/// logged and where the events wait.
async fn counting_goes_on(pipeline: &Pipeline, what: &str) {
    let counted = || async {
        let overview = pipeline.try_overview_of(&pipeline.site_id, &pipeline.token).await?;
        overview["total"]["pageviews"].as_i64()
    };
    let before = counted().await.unwrap_or(0);
    // Generous: a quorum queue recovers its log after a kill, slower on a loaded machine.
    let limit = Duration::from_secs(120);
    let moved = within(limit, || async { (counted().await? > before).then_some(()) }).await;
    if moved.is_none() {
        // Logs first: the forwarder's metrics may be out of reach, too.
        let logs = pipeline.log_tails(40);
        let metrics = match reqwest::get(format!("{}/metrics", pipeline.forwarder_ops_url)).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(error) => format!("(the forwarder's /metrics: {error})"),
        };
        let depths: Vec<&str> = metrics.lines().filter(|line| line.starts_with("analytics_queue_depth")).collect();
        panic!("counting did not go on within {limit:?} after {what} ({before} pageviews counted); {depths:?}\n{logs}");
    }
}
