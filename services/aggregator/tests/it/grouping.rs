//! Deliveries become transactions: what arrives while a group gathers
//! (`gather_ms`) is applied with it, in one transaction.

use std::time::Duration;

use analytics_events::{Event, EventBatch, EventType, Message};
use analytics_testkit::eventually;

use crate::TestAggregator;

/// Publishes two one-event batches `apart`, waits until both are applied
/// and returns how many transactions applied them (a batch's
/// `processed_at` is its transaction's start).
async fn transactions_for_two_batches(gather_ms: u64, apart: Duration) -> i64 {
    let aggregator = TestAggregator::start_with("UTC", |settings| settings.aggregator.gather_ms = gather_ms).await;
    let now = chrono::Utc::now().timestamp_millis();
    let event = Event {
        site_id: aggregator.site_id.clone(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: now,
        received_ms: now,
        path: "/".into(),
        visitor_id: 7,
        ..Default::default()
    };
    for _ in 0..2 {
        let batch = EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events: vec![event.clone()] };
        aggregator.publish(&batch.encode_to_vec()).await;
        tokio::time::sleep(apart).await;
    }
    let db = aggregator.namespace.db().await;
    let transactions = eventually("both batches applied", Duration::from_secs(30), || async {
        let row =
            db.query_one("SELECT count(*), count(DISTINCT processed_at) FROM processed_batches", &[]).await.ok()?;
        (row.get::<_, i64>(0) == 2).then(|| row.get::<_, i64>(1))
    })
    .await;
    aggregator.stop().await;
    transactions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_gathers_what_arrives_within_gather_ms() {
    let apart = Duration::from_millis(300);
    assert_eq!(transactions_for_two_batches(3_000, apart).await, 1, "gathered into one transaction");
    assert_eq!(transactions_for_two_batches(0, apart).await, 2, "applied as they came");
}
