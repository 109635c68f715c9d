//! Aggregator throughput: events/s from a pre-filled queue into the rollups
//! (UA parsing, bucketing, grouped upserts with HLL sketches, exactly-once
//! bookkeeping), next to a raw COPY of the same number of rows into an
//! unindexed table in the same run.

use std::time::{Duration, Instant};

use analytics_e2e::{Namespace, eventually};
use futures_util::SinkExt;
use lapin::BasicProperties;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};

use crate::cpu::{process_cpu, store_cpu};
use crate::sample::{COUNTRIES, PAGES, USER_AGENTS, encoded_events};

const EVENTS: usize = 200_000;
const BATCH: usize = 500;

/// Every pageview reaches the first, about one in nine (111 of 1,000 pages) the second.
const PREFIX_GOALS: [&str; 2] = ["/products/*", "/products/item-1*"];

pub async fn run() {
    let ceiling = Namespace::create_durable().await;
    let copy_rate = EVENTS as f64 / raw_copy(&ceiling.db().await, EVENTS).await;
    ceiling.drop_database().await;
    // Each run on a fresh namespace: its own queue, rollups and visitor state.
    let mut runs = Vec::new();
    // (visits, events kept, aggregators, name)
    let shapes = [
        (false, true, 1, "aggregator, visits off"),
        (true, false, 1, "aggregator, visits on, events not kept"),
        (true, true, 1, "aggregator, visits on, events kept (default)"),
        (true, true, 2, "two aggregators on one queue, visits on, events kept (default)"),
    ];
    // What every run must count (the default run's, with one aggregator):
    // the same sample, so the same pageviews, custom events and kept events.
    let mut counted: Option<Counted> = None;
    for (sessions, keep_events, aggregators, name) in shapes {
        let namespace = Namespace::create_durable().await;
        let mut db = namespace.db().await;
        let (site, _) = analytics_store::sites::add_site(&db, "bench.example.com", "Asia/Tehran").await.expect("site");
        for prefix in PREFIX_GOALS {
            let page = analytics_store::goals::GoalKind::Page;
            analytics_store::goals::add(&mut db, site.id, page, prefix).await.expect("a goal");
        }
        prefill_queue(&namespace, &encoded_events(&site.id.to_string(), EVENTS)).await;
        let run = aggregate(&namespace, Shape { sessions, keep_events }, aggregators).await;
        runs.push((name, run));
        if keep_events {
            let now = Counted::read(&db).await;
            assert_eq!(*counted.get_or_insert(now), now, "{name}: counted otherwise than one aggregator");
        }
        drop(db);
        namespace.drop_database().await;
    }

    let defaults: analytics_aggregator::Settings =
        analytics_config::from_defaults(analytics_aggregator::Settings::DEFAULTS).expect("defaults");
    println!("## Aggregator: queue to Postgres rollups, exactly once\n");
    println!(
        "{EVENTS} events in batches of {BATCH}, pre-filled in the aggregate queue; {PAGES} pages, {COUNTRIES} \
         countries, {USER_AGENTS} distinct user agents, 3 sources, 20,000 visitors, site in Asia/Tehran. One \
         aggregator with default settings (prefetch {}, up to {} deliveries per transaction); every event updates \
         its hourly total, 7 to 9 daily dimension rows with HLL sketches, a speed histogram and a page title. With \
         visits on, every transaction also locks, reads and rewrites the visit state of each visitor it touches \
         and updates the visit rollups. With events kept, every counted event is also one row of the events \
         table, written by binary COPY in the same transaction. The site has two page goals with a prefix \
         ({}), whose rows every transaction adds its pages' rows to. Two aggregators (as KEDA would scale them) \
         share the queue, both in this process; their rollups must equal one aggregator's (pageviews, custom \
         events and kept events; checked).\n",
        defaults.aggregator.prefetch,
        defaults.aggregator.max_group,
        PREFIX_GOALS.map(|g| format!("`{g}`")).join(", ")
    );
    println!(
        "| run | events/s | ratio to ceiling | CPU s per million events (this process) | CPU s per million events \
         (Postgres) |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!("| raw COPY of {EVENTS} rows (6 columns) into an unindexed table (ceiling) | {copy_rate:.0} | 1.00 | | |");
    let per_million = |cpu: Duration| format!("{:.2}", cpu.as_secs_f64() * 1_000_000.0 / EVENTS as f64);
    for (name, run) in runs {
        let rate = EVENTS as f64 / run.seconds;
        let postgres = run.postgres.map_or_else(|| "n/a (not on this machine)".to_owned(), per_million);
        println!("| {name} | {rate:.0} | {:.2} | {} | {postgres} |", rate / copy_rate, per_million(run.cpu));
    }
    println!();
    println!(
        "The process CPU is the aggregators' and the progress polling's. Postgres' is every process of the \
         server over the run (backends, WAL writer, checkpointer, autovacuum); the rest of the machine's time \
         goes to RabbitMQ.\n"
    );
}

/// Seconds for `COPY` of `n` event-shaped rows into a fresh unindexed table.
pub async fn raw_copy(db: &tokio_postgres::Client, n: usize) -> f64 {
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

pub async fn prefill_queue(namespace: &Namespace, events: &[Vec<u8>]) {
    let (_connection, channel) = confirming_channel(namespace, "bench").await;
    for chunk in events.chunks(BATCH) {
        publish(&channel, namespace, &uuid::Uuid::now_v7(), chunk).await;
    }
    channel.wait_for_confirms().await.expect("confirms");
}

/// A channel with publisher confirms to `namespace`'s broker, its topology declared.
pub async fn confirming_channel(namespace: &Namespace, name: &str) -> (lapin::Connection, lapin::Channel) {
    let connection = analytics_store::amqp::amqp_connect(&namespace.amqp, name).await.expect("amqp");
    analytics_store::amqp::declare_topology(&connection, &namespace.amqp).await.expect("topology");
    let channel = connection.create_channel().await.expect("channel");
    channel.confirm_select(ConfirmSelectOptions::default()).await.expect("confirms");
    (connection, channel)
}

/// Publishes one batch of encoded `events` as `id`, persistent; returns its confirmation.
pub async fn publish(
    channel: &lapin::Channel,
    namespace: &Namespace,
    id: &uuid::Uuid,
    events: &[Vec<u8>],
) -> lapin::PublisherConfirm {
    let payload = analytics_events::encode_batch_raw(&id.to_string(), events.iter().map(Vec::as_slice));
    channel
        .basic_publish(
            namespace.amqp.exchange().as_str().into(),
            "".into(),
            BasicPublishOptions::default(),
            &payload,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .expect("publish")
}

/// What an aggregator keeps besides the rollups.
#[derive(Clone, Copy)]
pub struct Shape {
    /// Visits (sessions).
    pub sessions: bool,
    /// The events themselves.
    pub keep_events: bool,
}

/// An aggregator running in this process, with default settings.
pub struct Running {
    shutdown: analytics_telemetry::Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Starts one on `namespace`'s queue and database, keeping what `shape` says.
    pub async fn start(namespace: &Namespace, shape: Shape) -> Self {
        let mut settings: analytics_aggregator::Settings =
            analytics_config::from_defaults(analytics_aggregator::Settings::DEFAULTS).expect("defaults");
        settings.http.host = "127.0.0.1".into();
        settings.http.port = 0;
        settings.amqp = namespace.amqp.clone();
        settings.postgres = namespace.postgres.clone();
        settings.aggregator.ua_regexes = analytics_e2e::ua_regexes();
        settings.aggregator.sessions = shape.sessions;
        settings.aggregator.keep_events = shape.keep_events;
        let aggregator = analytics_aggregator::Application::build(settings).await.expect("aggregator");
        let shutdown = analytics_telemetry::Shutdown::new();
        let task = tokio::spawn(aggregator.run_until_stopped(shutdown.clone()));
        Self { shutdown, task }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("task").expect("aggregator stopped");
    }
}

/// Pageviews, custom events and kept events in the rollups of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Counted {
    pageviews: i64,
    events: i64,
    kept: i64,
}

impl Counted {
    async fn read(db: &tokio_postgres::Client) -> Self {
        let totals = "SELECT coalesce(sum(pageviews), 0)::int8, coalesce(sum(events), 0)::int8,
                             (SELECT count(*) FROM events WHERE kind < 2) FROM hourly_totals";
        let row = db.query_one(totals, &[]).await.expect("totals");
        Self { pageviews: row.get(0), events: row.get(1), kept: row.get(2) }
    }
}

/// One run: its seconds, and the CPU of this process and of Postgres (when local) meanwhile.
struct Run {
    seconds: f64,
    cpu: Duration,
    postgres: Option<Duration>,
}

/// Runs `aggregators` aggregators until every batch is applied.
async fn aggregate(namespace: &Namespace, shape: Shape, aggregators: usize) -> Run {
    let db = namespace.db().await;
    let batches = (EVENTS / BATCH) as i64;

    let postgres = store_cpu(namespace.postgres.url());
    let cpu = process_cpu();
    let started = Instant::now();
    let mut running = Vec::new();
    for _ in 0..aggregators {
        running.push(Running::start(namespace, shape).await);
    }
    eventually("every batch applied", Duration::from_secs(600), || async {
        let done: i64 = db.query_one("SELECT count(*) FROM processed_batches", &[]).await.ok()?.get(0);
        if done < batches {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (done == batches).then_some(())
    })
    .await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = process_cpu() - cpu;
    let postgres =
        postgres.zip(store_cpu(namespace.postgres.url())).map(|(before, after)| after.saturating_sub(before));
    for aggregator in running {
        aggregator.stop().await;
    }
    Run { seconds, cpu, postgres }
}
