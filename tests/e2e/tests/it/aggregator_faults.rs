//! Exactly once under faults: each test drives load through the whole
//! pipeline on the fault-test stores while something breaks, and ends with
//! exactly the accepted number of pageviews counted.

use analytics_e2e::{FaultStores, Instances, Pipeline, PipelineOptions};

async fn pipeline(aggregators: Instances) -> Pipeline {
    let stores = &FaultStores::get().await.stores;
    Pipeline::start_with(PipelineOptions { stores: Some(stores), aggregators, ..Default::default() }).await
}

const APPLIED: &str = "analytics_aggregator_batches_total{outcome=\"applied\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_postgres_restarted_under_load() {
    let stores = FaultStores::get().await;
    let pipeline = pipeline(Instances::InProcess).await;
    let load = tokio::spawn({
        let sender = pipeline.sender();
        // Small requests, so the load lasts through the restart.
        async move { sender.pageviews(20_000, 20).await }
    });
    pipeline.wait_for_metric(&pipeline.aggregator_ops_url, APPLIED, 1.0).await;
    stores.control("stop", "postgres").await;
    // The aggregator notices the outage and retries.
    let retried = "analytics_aggregator_batches_total{outcome=\"retried\"}";
    pipeline.wait_for_metric(&pipeline.aggregator_ops_url, retried, 1.0).await;
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
    pipeline.wait_for_metric(&url, APPLIED, 1.0).await;
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
