//! Housekeeping: partitions past retention are dropped whole (the kept
//! events' after their own, shorter retention), old batch ids are pruned,
//! and nothing recent is touched.

use analytics_events::{Event, EventBatch, EventType, Message, Source};
use analytics_testkit::{BROWSER_USER_AGENT, eventually};

use crate::TestAggregator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_partitions_are_dropped_and_old_batch_ids_pruned() {
    let aggregator = TestAggregator::start("UTC").await;
    let now = chrono::Utc::now();
    let old_day = (now - chrono::Duration::days(100)).date_naive();
    let recent_day = (now - chrono::Duration::days(10)).date_naive();
    let event = |at: chrono::DateTime<chrono::Utc>| Event {
        site_id: aggregator.site_id.clone(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: at.timestamp_millis(),
        path: "/".into(),
        source: Source::Web as i32,
        user_agent: BROWSER_USER_AGENT.into(),
        visitor_id: 1,
        ..Default::default()
    };
    // The aggregator creates the partitions of any day a batch touches.
    let batch = EventBatch {
        batch_id: uuid::Uuid::now_v7().to_string(),
        events: vec![event(now - chrono::Duration::days(100)), event(now - chrono::Duration::days(10)), event(now)],
    };
    aggregator.publish(&batch.encode_to_vec()).await;
    let db = aggregator.namespace.db().await;
    let partition = format!("hourly_totals_{}", old_day.format("%Y%m%d"));
    eventually("the events applied", std::time::Duration::from_secs(30), || async {
        let n: i64 =
            db.query_one("SELECT coalesce(sum(pageviews), 0)::int8 FROM hourly_totals", &[]).await.ok()?.get(0);
        (n == 3).then_some(())
    })
    .await;
    // Room to update in place on the pages of the days live batches update,
    // not on those of a day long over (see `partitions::LIVE_FILLFACTOR`).
    let fillfactor = |table: String| {
        let db = &db;
        async move {
            let sql = "SELECT coalesce((SELECT option_value FROM pg_options_to_table(reloptions)
                                        WHERE option_name = 'fillfactor'), '100')
                       FROM pg_class WHERE oid = to_regclass($1)";
            db.query_one(sql, &[&table]).await.expect(&table).get::<_, String>(0)
        }
    };
    let today = now.date_naive().format("%Y%m%d");
    let ahead = (now + chrono::Duration::days(3)).date_naive().format("%Y%m%d");
    for table in analytics_aggregator::partitions::PARTITIONED_TABLES {
        let expected = analytics_aggregator::partitions::LIVE_FILLFACTOR.to_string();
        assert_eq!(fillfactor(format!("{table}_{today}")).await, expected, "{table} today");
        assert_eq!(fillfactor(format!("{table}_{ahead}")).await, expected, "{table} ahead of need");
        assert_eq!(fillfactor(format!("{table}_{}", recent_day.format("%Y%m%d"))).await, "100", "{table} 10 days ago");
    }
    assert_eq!(fillfactor(format!("events_{today}")).await, "100", "events: only inserted");
    for table in ["monthly_dimensions", "monthly_dimension_counts", "monthly_speed", "daily_visit_pages"] {
        assert_eq!(fillfactor(table.to_owned()).await, "70", "{table}");
    }
    // Events are kept for 90 days by default: not the 100-day-old one.
    let kept: i64 = db.query_one("SELECT count(*) FROM events", &[]).await.expect("count").get(0);
    assert_eq!(kept, 2);
    db.execute(
        "INSERT INTO processed_batches (batch_id, event_count, processed_at) VALUES ($1, 1, now() - interval '3 days')",
        &[&uuid::Uuid::now_v7()],
    )
    .await
    .expect("an old batch id");

    let mut settings: analytics_aggregator::Settings =
        analytics_config::from_defaults(analytics_aggregator::Settings::DEFAULTS).expect("defaults");
    // Shorter than the running aggregator's own settings (760 and 7 days), so
    // its background round cannot be the one that drops or prunes.
    settings.aggregator.retention_days = 30;
    settings.aggregator.batch_id_retention_days = 2;
    settings.aggregator.raw_retention_days = 5;
    let pool = analytics_store::pg_pool(&aggregator.namespace.postgres).expect("pool");
    let report = analytics_aggregator::maintenance::run_once(&pool, &settings.aggregator).await.expect("maintenance");
    assert_eq!(report.pruned_batch_ids, 1, "only the 3-day-old batch id");
    let mut dropped = report.dropped_partitions.clone();
    dropped.sort();
    let suffix = old_day.format("%Y%m%d");
    assert_eq!(
        dropped,
        vec![
            format!("daily_app_versions_{suffix}"),
            format!("daily_dimension_counts_{suffix}"),
            format!("daily_dimensions_{suffix}"),
            format!("daily_speed_{suffix}"),
            format!("events_{}", recent_day.format("%Y%m%d")),
            format!("hourly_totals_{suffix}")
        ]
    );
    let kept: i64 = db.query_one("SELECT count(*) FROM events", &[]).await.expect("count").get(0);
    assert_eq!(kept, 1, "today's event kept, the 10-day-old one's partition dropped");
    let exists: bool = db.query_one("SELECT to_regclass($1) IS NOT NULL", &[&partition]).await.expect("lookup").get(0);
    assert!(!exists, "{partition} dropped");
    let left: i64 = db.query_one("SELECT sum(pageviews)::int8 FROM hourly_totals", &[]).await.expect("sum").get(0);
    assert_eq!(left, 2, "the recent days' rollups untouched");
    let daily: i64 = db.query_one("SELECT sum(pageviews)::int8 FROM daily_totals", &[]).await.expect("sum").get(0);
    assert_eq!(daily, 2, "the old day's totals deleted, the recent ones kept");
    let batches: i64 = db.query_one("SELECT count(*) FROM processed_batches", &[]).await.expect("count").get(0);
    assert_eq!(batches, 1, "the recent batch id kept");
    aggregator.stop().await;
}
