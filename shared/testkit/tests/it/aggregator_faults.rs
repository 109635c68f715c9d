//! Exactly once under faults: each test drives load through the whole
//! pipeline on the fault-test stores while something breaks, and ends with
//! exactly the accepted number of pageviews counted.

use std::time::Duration;

use analytics_testkit::{FaultStores, Instances, Pipeline, PipelineOptions, eventually};

async fn pipeline(aggregators: Instances) -> Pipeline {
    let stores = &FaultStores::get().await.stores;
    Pipeline::start_with(PipelineOptions { stores: Some(stores), aggregators, ..Default::default() }).await
}

/// Waits until the aggregator at `url` has applied at least one batch.
async fn first_apply(pipeline: &Pipeline, url: &str) {
    eventually("a first applied batch", Duration::from_secs(30), || async {
        let applied = pipeline.metric(url, "analytics_aggregator_batches_total{outcome=\"applied\"}").await;
        (applied > 0.0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_postgres_restarted_under_load() {
    let stores = FaultStores::get().await;
    let pipeline = pipeline(Instances::InProcess).await;
    let load = tokio::spawn({
        let sender = pipeline.sender();
        // Small requests, so the load lasts through the restart.
        async move { sender.pageviews(20_000, 20).await }
    });
    first_apply(&pipeline, &pipeline.aggregator_ops_url).await;
    stores.control("stop", "postgres").await;
    eventually("the aggregator retrying while Postgres is down", Duration::from_secs(30), || async {
        let retried = pipeline
            .metric(&pipeline.aggregator_ops_url, "analytics_aggregator_batches_total{outcome=\"retried\"}")
            .await;
        (retried > 0.0).then_some(())
    })
    .await;
    stores.control("start", "postgres").await;
    let (accepted, _) = load.await.expect("load");
    pipeline.assert_exactly(accepted, &pipeline.forwarder_instances()).await;
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_aggregator_killed_mid_transaction_then_restarted() {
    let mut pipeline = pipeline(Instances::Processes(1)).await;
    let load = tokio::spawn({
        let sender = pipeline.sender();
        async move { sender.pageviews(30_000, 100).await }
    });
    let url = pipeline.aggregator_processes[0].url();
    first_apply(&pipeline, &url).await;
    // Under load the aggregator is nearly always inside a transaction.
    pipeline.aggregator_processes[0].kill9().await;
    pipeline.aggregator_processes[0].restart();
    let (accepted, _) = load.await.expect("load");
    pipeline.assert_exactly(accepted, &pipeline.forwarder_instances()).await;
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_two_aggregators_count_what_one_does() {
    let pipeline = pipeline(Instances::Processes(2)).await;
    let (accepted, _) = pipeline.sender().pageviews(30_000, 100).await;
    pipeline.assert_exactly(accepted, &pipeline.forwarder_instances()).await;
    for process in &pipeline.aggregator_processes {
        let applied = pipeline.metric(&process.url(), "analytics_aggregator_batches_total{outcome=\"applied\"}").await;
        eprintln!("aggregator on port {} applied {applied} batches", process.port);
    }
    pipeline.stop().await;
}
