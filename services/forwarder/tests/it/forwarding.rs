//! Events on the Redis list reach the aggregate queue in order, in batches of
//! at most `batch_size`, each published once and confirmed, and nothing is
//! left in the list or in the instance's in-flight record.

use std::time::Duration;

use analytics_events::{Event, EventBatch, EventType, Message};
use analytics_testkit::{Namespace, eventually};
use lapin::options::BasicGetOptions;

use crate::TestForwarder;

fn pageview(i: usize) -> Event {
    Event {
        site_id: "00000000-0000-0000-0000-000000000001".into(),
        r#type: EventType::Pageview as i32,
        path: format!("/p/{i}"),
        visitor_id: i as u64,
        ..Default::default()
    }
}

fn event(i: usize) -> Vec<u8> {
    pageview(i).encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_events_are_published_in_confirmed_batches_in_order() {
    let namespace = Namespace::create().await;
    let mut redis = namespace.redis().await;
    let queue_key = namespace.redis.queue_key();
    // Ingest LPUSHes, so the oldest event is the last element.
    for i in 0..25 {
        redis::cmd("LPUSH").arg(&queue_key).arg(event(i)).query_async::<()>(&mut redis).await.expect("LPUSH");
    }
    let overrides = [("ANALYTICS__FORWARDER__BATCH_SIZE".to_owned(), "10".to_owned())];
    let forwarder = TestForwarder::start(namespace.clone(), &overrides).await;
    let inflight = namespace.redis.inflight_key(&forwarder.instance_id);
    eventually("the list forwarded and every batch confirmed", Duration::from_secs(30), || async {
        let (left, open): (i64, i64) =
            redis::pipe().llen(&queue_key).scard(&inflight).query_async(&mut redis.clone()).await.ok()?;
        let confirmed = forwarder.metric("analytics_forwarder_events_total{outcome=\"confirmed\"}").await;
        (left == 0 && open == 0 && confirmed == 25.0).then_some(())
    })
    .await;

    let connection = analytics_store::amqp::amqp_connect(&namespace.amqp, "test-reader").await.expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    let mut batches = Vec::new();
    while let Some(message) = channel
        .basic_get(namespace.amqp.queue().as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
    {
        batches.push(EventBatch::decode(message.delivery.data.as_slice()).expect("a batch"));
    }
    let sizes: Vec<usize> = batches.iter().map(|b| b.events.len()).collect();
    assert!(sizes.iter().all(|&n| (1..=10).contains(&n)), "batches of at most 10: {sizes:?}");
    let paths: Vec<String> = batches.iter().flat_map(|b| b.events.iter().map(|e| e.path.clone())).collect();
    let expected: Vec<String> = (0..25).map(|i| format!("/p/{i}")).collect();
    assert_eq!(paths, expected, "every event once, oldest first");
    let mut ids: Vec<&str> = batches.iter().map(|b| b.batch_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), batches.len(), "each batch its own id, for the aggregator's exactly-once");
    assert_eq!(forwarder.metric("analytics_forwarder_batches_total{outcome=\"nacked\"}").await, 0.0);
    forwarder.stop().await;
}

/// AMQP frames are small (the client's buffers are 32 of them each way),
/// so batches larger than a frame must cross split and whole again; a
/// `frame_max` in the URL still wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_larger_than_a_frame_arrive_whole() {
    use analytics_store::amqp::{FRAME_MAX_BYTES, amqp_connect};
    let namespace = Namespace::create().await;
    let mut redis = namespace.redis().await;
    let queue_key = namespace.redis.queue_key();
    let long_event = |i: usize| Event { path: format!("/p/{i}/{}", "x".repeat(2000)), ..pageview(i) };
    for i in 0..40 {
        redis::cmd("LPUSH")
            .arg(&queue_key)
            .arg(long_event(i).encode_to_vec())
            .query_async::<()>(&mut redis)
            .await
            .expect("LPUSH");
    }
    let forwarder = TestForwarder::start(namespace.clone(), &[]).await;
    eventually("the list forwarded", Duration::from_secs(30), || async {
        let confirmed = forwarder.metric("analytics_forwarder_events_total{outcome=\"confirmed\"}").await;
        (confirmed == 40.0).then_some(())
    })
    .await;
    forwarder.stop().await;

    let connection = amqp_connect(&namespace.amqp, "test-reader").await.expect("amqp");
    assert_eq!(connection.configuration().frame_max(), FRAME_MAX_BYTES);
    let channel = connection.create_channel().await.expect("channel");
    let (mut paths, mut largest) = (Vec::new(), 0);
    while let Some(message) = channel
        .basic_get(namespace.amqp.queue().as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
    {
        largest = largest.max(message.delivery.data.len());
        let batch = EventBatch::decode(message.delivery.data.as_slice()).expect("a whole batch");
        paths.extend(batch.events.into_iter().map(|e| e.path));
    }
    assert!(largest > 2 * FRAME_MAX_BYTES as usize, "a batch of several frames: {largest} bytes");
    assert_eq!(paths, (0..40).map(|i| long_event(i).path).collect::<Vec<_>>(), "every event whole, in order");

    let mut settings = namespace.amqp.clone();
    let separator = if settings.url().contains('?') { '&' } else { '?' };
    settings.url = format!("{}{separator}frame_max=65536", settings.url()).into();
    let connection = amqp_connect(&settings, "test-reader").await.expect("amqp");
    assert_eq!(connection.configuration().frame_max(), 65536, "the URL's frame_max");
}
