//! The forwarder's delivery invariant under faults, each through the whole
//! pipeline on the fault-test stores, each ending with exactly the accepted
//! number of events counted: not one more, not one fewer.

use std::time::Duration;

use analytics_e2e::{FaultStores, Instances, Pipeline, PipelineOptions};
use analytics_events::{Event, EventType, Message, Source};

async fn pipeline(forwarders: Instances, heartbeat_ttl_ms: u64) -> Pipeline {
    let stores = &FaultStores::get().await.stores;
    Pipeline::start_with(PipelineOptions { stores: Some(stores), forwarders, heartbeat_ttl_ms, ..Default::default() })
        .await
}

/// Writes an in-flight batch for `instance` straight into Redis, as if that
/// forwarder had claimed `n` events and crashed before the broker's confirm.
async fn plant_inflight_batch(pipeline: &Pipeline, instance: &str, n: usize) {
    let mut redis = pipeline.namespace.redis().await;
    let batch_id = uuid::Uuid::now_v7().to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let events: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            Event {
                site_id: pipeline.site_id.clone(),
                r#type: EventType::Pageview as i32,
                timestamp_ms: now,
                received_ms: now,
                path: format!("/planted/{i}"),
                source: Source::Web as i32,
                visitor_id: i as u64,
                user_agent: analytics_e2e::BROWSER_USER_AGENT.into(),
                ..Default::default()
            }
            .encode_to_vec()
        })
        .collect();
    let keys = &pipeline.namespace.redis;
    redis::pipe()
        .atomic()
        .sadd(keys.forwarders_key(), instance)
        .sadd(keys.inflight_key(instance), &batch_id)
        .rpush(keys.batch_key(&batch_id), events)
        .query_async::<()>(&mut redis)
        .await
        .expect("planting a batch");
}

async fn inflight(pipeline: &Pipeline, instance: &str) -> i64 {
    let mut redis = pipeline.namespace.redis().await;
    let key = pipeline.namespace.redis.inflight_key(instance);
    redis::cmd("SCARD").arg(key).query_async(&mut redis).await.expect("SCARD")
}

const CONFIRMED: &str = "analytics_forwarder_batches_total{outcome=\"confirmed\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_forwarder_killed_mid_flight_republishes_after_restart() {
    let mut pipeline = pipeline(Instances::Processes(1), 15_000).await;
    let instance = pipeline.forwarder_instances()[0].clone();
    let load = tokio::spawn({
        let sender = pipeline.sender();
        async move { sender.pageviews(30_000, 100).await }
    });
    pipeline.wait_for_metric(&pipeline.forwarder_processes[0].url(), CONFIRMED, 1.0).await;
    pipeline.forwarder_processes[0].kill9().await;
    // Whatever the kill interrupted, plus one batch surely in flight: claimed,
    // never confirmed.
    plant_inflight_batch(&pipeline, &instance, 250).await;
    assert!(inflight(&pipeline, &instance).await >= 1);
    let (accepted, _) = load.await.expect("load");
    pipeline.forwarder_processes[0].restart();
    pipeline.assert_exactly(accepted + 250, &[instance]).await;
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_dead_forwarders_batches_are_adopted_by_a_live_one() {
    let mut pipeline = pipeline(Instances::Processes(2), 1_500).await;
    let instances = pipeline.forwarder_instances();
    let load = tokio::spawn({
        let sender = pipeline.sender();
        async move { sender.pageviews(30_000, 100).await }
    });
    pipeline.wait_for_metric(&pipeline.forwarder_processes[0].url(), CONFIRMED, 1.0).await;
    pipeline.forwarder_processes[0].kill9().await;
    // A batch the dead instance surely held, and one of an instance (a pod
    // scaled away earlier) that never heartbeats at all.
    plant_inflight_batch(&pipeline, &instances[0], 200).await;
    plant_inflight_batch(&pipeline, "scaled-away-pod", 300).await;
    let (accepted, _) = load.await.expect("load");
    // Forwarder 0 never comes back.
    let mut all = instances.clone();
    all.push("scaled-away-pod".to_owned());
    pipeline.assert_exactly(accepted + 500, &all).await;
    assert_eq!(inflight(&pipeline, &instances[0]).await, 0, "the dead instance's batches were adopted");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_rabbitmq_down_for_ten_seconds_under_load() {
    let stores = FaultStores::get().await;
    let pipeline = Pipeline::start_with(PipelineOptions {
        stores: Some(&stores.stores),
        // Events wait in Redis with nothing confirmed: a stall after 3 s.
        overrides: vec![("ANALYTICS__FORWARDER__STALL_SECONDS".into(), "3".into())],
        ..Default::default()
    })
    .await;
    let health = format!("{}/healthz", pipeline.forwarder_ops_url);
    let load = tokio::spawn({
        let sender = pipeline.sender();
        async move { sender.pageviews(20_000, 100).await }
    });
    pipeline.wait_for_metric(&pipeline.forwarder_ops_url, CONFIRMED, 1.0).await;
    stores.control("stop", "rabbitmq").await;
    // The outage itself is the scenario: ingest keeps accepting into Redis
    // while the broker is gone.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let ready = pipeline.http.get(format!("{}/readyz", pipeline.forwarder_ops_url)).send().await.expect("readyz");
    assert_eq!(ready.status(), 503, "the forwarder reports the broker outage");
    let reason = ready.text().await.expect("body");
    assert!(reason.contains("rabbitmq"), "{reason}");
    let alive = pipeline.http.get(&health).send().await.expect("healthz");
    assert_eq!(alive.status(), 503, "events wait and nothing is confirmed: the forwarder says it is stalled");
    assert!(alive.text().await.expect("body").contains("no progress"));
    stores.control("start", "rabbitmq").await;
    let (accepted, _) = load.await.expect("load");
    pipeline.assert_exactly(accepted, &pipeline.forwarder_instances()).await;
    let alive = pipeline.http.get(&health).send().await.expect("healthz");
    assert_eq!(alive.status(), 200, "alive again once batches are confirmed");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_redis_restarted_while_idle_and_while_claiming() {
    let stores = FaultStores::get().await;
    let pipeline = pipeline(Instances::InProcess, 15_000).await;
    let instances = pipeline.forwarder_instances();
    let sender = pipeline.sender();

    // Idle: everything forwarded, the forwarder blocked waiting on Redis.
    let (first, _) = sender.pageviews(1_000, 100).await;
    pipeline.assert_exactly(first, &instances).await;
    stores.control("stop", "redis").await;
    stores.control("start", "redis").await;
    let (second, _) = sender.pageviews(1_000, 100).await;
    pipeline.assert_exactly(first + second, &instances).await;

    // Claiming: a restart in the middle of a stream of events.
    let load = tokio::spawn({
        let sender = sender.clone();
        async move { sender.pageviews(20_000, 100).await }
    });
    pipeline.wait_for_metric(&pipeline.forwarder_ops_url, CONFIRMED, 1.0).await;
    stores.control("stop", "redis").await;
    stores.control("start", "redis").await;
    let (third, refused) = load.await.expect("load");
    eprintln!("redis restart under load: {refused} requests refused and retried");
    pipeline.assert_exactly(first + second + third, &instances).await;
    pipeline.stop().await;
}
