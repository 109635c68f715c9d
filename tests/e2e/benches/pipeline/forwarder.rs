//! Forwarder throughput: events/s moved from a pre-filled Redis list into
//! RabbitMQ with confirms, next to the ceiling of a raw publish-with-confirms
//! of the same messages (same batch size, same number in flight).

use std::time::{Duration, Instant};

use analytics_e2e::{Namespace, eventually};
use lapin::BasicProperties;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueuePurgeOptions};
use tokio::task::JoinSet;

use crate::cpu::process_cpu;
use crate::sample::encoded_events;

const EVENTS: usize = 200_000;
const BATCH: usize = 500;
const IN_FLIGHT: usize = 8;

struct Run {
    seconds: f64,
    cpu: Duration,
}

impl Run {
    fn rate(&self) -> f64 {
        EVENTS as f64 / self.seconds
    }
    fn cpu_per_million(&self) -> f64 {
        self.cpu.as_secs_f64() * 1_000_000.0 / EVENTS as f64
    }
}

pub async fn run() {
    let namespace = Namespace::create_durable().await;
    let events = encoded_events("00000000-0000-0000-0000-000000000001", EVENTS);
    let mean_size = events.iter().map(Vec::len).sum::<usize>() / events.len();

    let connection = analytics_store::amqp::amqp_connect(&namespace.amqp, "bench").await.expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    analytics_store::amqp::declare_topology(&connection, &namespace.amqp).await.expect("topology");
    let raw = raw_publish(&channel, &namespace, &events).await;
    channel.queue_purge(namespace.amqp.queue().as_str().into(), QueuePurgeOptions::default()).await.expect("purge");

    let forwarded = forward(&namespace, &events).await;
    channel.queue_purge(namespace.amqp.queue().as_str().into(), QueuePurgeOptions::default()).await.expect("purge");

    println!("## Forwarder: Redis list to RabbitMQ with publisher confirms\n");
    println!(
        "{EVENTS} events of {mean_size} bytes (protobuf), batches of {BATCH}, {IN_FLIGHT} batches awaiting confirms at \
         once, quorum queue on the private single-node RabbitMQ.\n"
    );
    println!("| run | events/s | ratio to ceiling | CPU s per million events (this process) |");
    println!("|---|---:|---:|---:|");
    println!(
        "| raw publish-with-confirms of the same messages (ceiling) | {:.0} | 1.00 | {:.2} |",
        raw.rate(),
        raw.cpu_per_million()
    );
    println!(
        "| forwarder: claim from Redis, publish, confirm, clear in-flight record | {:.0} | {:.2} | {:.2} |",
        forwarded.rate(),
        forwarded.rate() / raw.rate(),
        forwarded.cpu_per_million()
    );
    println!();
}

async fn raw_publish(channel: &lapin::Channel, namespace: &Namespace, events: &[Vec<u8>]) -> Run {
    channel.confirm_select(ConfirmSelectOptions::default()).await.expect("confirm mode");
    let payloads: Vec<Vec<u8>> = events
        .chunks(BATCH)
        .map(|chunk| {
            analytics_events::encode_batch_raw(&uuid::Uuid::now_v7().to_string(), chunk.iter().map(Vec::as_slice))
        })
        .collect();
    let exchange = namespace.amqp.exchange();
    let cpu = process_cpu();
    let started = Instant::now();
    let mut pending = JoinSet::new();
    for payload in payloads {
        if pending.len() >= IN_FLIGHT {
            pending.join_next().await.expect("task").expect("confirm");
        }
        let confirm = channel
            .basic_publish(
                exchange.as_str().into(),
                "".into(),
                BasicPublishOptions { mandatory: true, ..Default::default() },
                &payload,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish");
        pending.spawn(async move {
            let confirmation = confirm.await.expect("confirm");
            assert!(confirmation.is_ack());
        });
    }
    while let Some(done) = pending.join_next().await {
        done.expect("confirm");
    }
    Run { seconds: started.elapsed().as_secs_f64(), cpu: process_cpu() - cpu }
}

async fn forward(namespace: &Namespace, events: &[Vec<u8>]) -> Run {
    let mut redis = namespace.redis().await;
    let queue = namespace.redis.queue_key();
    for chunk in events.chunks(1000) {
        redis::cmd("LPUSH").arg(&queue).arg(chunk).query_async::<()>(&mut redis).await.expect("pre-fill");
    }
    let mut settings: analytics_forwarder::Settings =
        analytics_config::from_defaults(analytics_forwarder::Settings::DEFAULTS).expect("defaults");
    settings.http.host = "127.0.0.1".into();
    settings.http.port = 0;
    settings.redis = namespace.redis.clone();
    settings.amqp = namespace.amqp.clone();
    settings.forwarder.instance_id = "bench".into();
    settings.forwarder.batch_size = BATCH;
    settings.forwarder.max_in_flight = IN_FLIGHT;
    let forwarder = analytics_forwarder::Application::build(settings).await.expect("forwarder");
    let shutdown = analytics_telemetry::Shutdown::new();
    let inflight = namespace.redis.inflight_key("bench");

    let cpu = process_cpu();
    let started = Instant::now();
    let task = tokio::spawn(forwarder.run_until_stopped(shutdown.clone()));
    eventually("the list forwarded", Duration::from_secs(300), || {
        let (mut redis, queue, inflight) = (redis.clone(), queue.clone(), inflight.clone());
        async move {
            let (left, open): (i64, i64) =
                redis::pipe().llen(&queue).scard(&inflight).query_async(&mut redis).await.ok()?;
            (left == 0 && open == 0).then_some(())
        }
    })
    .await;
    let run = Run { seconds: started.elapsed().as_secs_f64(), cpu: process_cpu() - cpu };
    shutdown.cancel();
    task.await.expect("task").expect("forwarder stopped");
    run
}
