//! Aggregator throughput: events/s from a pre-filled queue into the rollups
//! (UA parsing, bucketing, grouped upserts with HLL sketches, exactly-once
//! bookkeeping), next to a raw COPY of the same number of rows into an
//! unindexed table in the same run.

use std::time::{Duration, Instant};

use analytics_testkit::{Namespace, eventually};
use futures_util::SinkExt;
use lapin::BasicProperties;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};

use crate::cpu::process_cpu;
use crate::sample::{COUNTRIES, PAGES, USER_AGENTS, encoded_events};

const EVENTS: usize = 200_000;
const BATCH: usize = 500;

pub async fn run() {
    let namespace = Namespace::create().await;
    let db = namespace.db().await;
    let (site, _) = analytics_store::sites::add_site(&db, "bench.example.com", "Asia/Tehran").await.expect("site");
    let events = encoded_events(&site.id.to_string(), EVENTS);

    let copy = raw_copy(&db, EVENTS).await;
    prefill_queue(&namespace, &events).await;
    let (seconds, cpu) = aggregate(&namespace).await;
    let rate = EVENTS as f64 / seconds;
    let copy_rate = EVENTS as f64 / copy;

    println!("## Aggregator: queue to Postgres rollups, exactly once\n");
    println!(
        "{EVENTS} events in batches of {BATCH}, pre-filled in the aggregate queue; {PAGES} pages, {COUNTRIES} \
         countries, {USER_AGENTS} distinct user agents, 3 sources, 20,000 visitors, site in Asia/Tehran. One \
         aggregator with default settings (prefetch 64, up to 16 deliveries per transaction); every event updates \
         its hourly total, 7 to 9 daily dimension rows with HLL sketches, a speed histogram and a page title.\n"
    );
    println!("| run | events/s | ratio to ceiling |");
    println!("|---|---:|---:|");
    println!("| raw COPY of {EVENTS} rows (6 columns) into an unindexed table (ceiling) | {copy_rate:.0} | 1.00 |");
    println!("| aggregator, queue to committed rollups | {rate:.0} | {:.2} |", rate / copy_rate);
    println!();
    println!(
        "CPU of the benchmark process (the aggregator and the progress polling): {:.2} s per million events; the \
         rest of the machine's time goes to Postgres and RabbitMQ.\n",
        cpu.as_secs_f64() * 1_000_000.0 / EVENTS as f64
    );
}

/// Seconds for `COPY` of `n` event-shaped rows into a fresh unindexed table.
async fn raw_copy(db: &tokio_postgres::Client, n: usize) -> f64 {
    db.batch_execute(
        "CREATE UNLOGGED TABLE IF NOT EXISTS copy_ceiling
         (site_id uuid, local_day date, path text, country text, user_agent text, visitor bigint)",
    )
    .await
    .expect("table");
    let mut text = String::with_capacity(n * 160);
    for i in 0..n {
        text.push_str(&format!(
            "00000000-0000-0000-0000-000000000001\t2026-11-27\t/products/item-{}\tC{}\tMozilla/5.0 (Windows NT 10.0) Chrome/{}\t{}\n",
            i % PAGES,
            i % COUNTRIES,
            i % USER_AGENTS,
            i % 20_000
        ));
    }
    let started = Instant::now();
    let sink = db.copy_in("COPY copy_ceiling FROM STDIN").await.expect("copy");
    futures_util::pin_mut!(sink);
    sink.send(bytes::Bytes::from(text)).await.expect("copy data");
    sink.close().await.expect("copy done");
    started.elapsed().as_secs_f64()
}

async fn prefill_queue(namespace: &Namespace, events: &[Vec<u8>]) {
    let connection = analytics_store::amqp::amqp_connect(&namespace.amqp, "bench").await.expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    analytics_store::amqp::declare_topology(&channel, &namespace.amqp).await.expect("topology");
    channel.confirm_select(ConfirmSelectOptions::default()).await.expect("confirms");
    for chunk in events.chunks(BATCH) {
        let payload =
            analytics_events::encode_batch_raw(&uuid::Uuid::now_v7().to_string(), chunk.iter().map(Vec::as_slice));
        channel
            .basic_publish(
                namespace.amqp.exchange().as_str().into(),
                "".into(),
                BasicPublishOptions::default(),
                &payload,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish");
    }
    channel.wait_for_confirms().await.expect("confirms");
}

/// Runs one aggregator until every batch is applied; seconds and process CPU.
async fn aggregate(namespace: &Namespace) -> (f64, Duration) {
    let mut settings: analytics_aggregator::Settings =
        analytics_config::from_defaults(analytics_aggregator::Settings::DEFAULTS).expect("defaults");
    settings.http.host = "127.0.0.1".into();
    settings.http.port = 0;
    settings.amqp = namespace.amqp.clone();
    settings.postgres = namespace.postgres.clone();
    settings.aggregator.ua_regexes = analytics_testkit::ua_regexes();
    let aggregator = analytics_aggregator::Application::build(settings).await.expect("aggregator");
    let shutdown = analytics_telemetry::Shutdown::new();
    let db = namespace.db().await;
    let batches = (EVENTS / BATCH) as i64;

    let cpu = process_cpu();
    let started = Instant::now();
    let task = tokio::spawn(aggregator.run_until_stopped(shutdown.clone()));
    eventually("every batch applied", Duration::from_secs(600), || async {
        let done: i64 = db.query_one("SELECT count(*) FROM processed_batches", &[]).await.ok()?.get(0);
        if done < batches {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (done == batches).then_some(())
    })
    .await;
    let result = (started.elapsed().as_secs_f64(), process_cpu() - cpu);
    shutdown.cancel();
    task.await.expect("task").expect("aggregator stopped");
    result
}
