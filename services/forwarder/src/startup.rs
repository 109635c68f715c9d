//! Builds the forwarder from settings and runs its claim-publish loop.

use std::sync::Arc;
use std::time::Duration;

use analytics_telemetry::{Backoff, Ops, Progress, Shutdown};
use anyhow::Context;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::claim::{ClaimedBatch, Claimer};
use crate::depth::DepthReader;
use crate::metrics::ForwarderMetrics;
use crate::publish::{Broker, PublishError};
use crate::settings::Settings;

pub struct Application {
    settings: Settings,
    ops: Ops,
    metrics: ForwarderMetrics,
    progress: Progress,
    claimer: Claimer,
    broker: Arc<Broker>,
    ops_server: actix_web::dev::Server,
    port: u16,
}

/// Retry pauses grow from 100 ms to 5 s.
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let instance_id = settings.forwarder.resolved_instance_id();
        tracing::info!(instance_id, "forwarder instance");
        let claimer = Claimer::connect(
            &settings.redis,
            &instance_id,
            settings.forwarder.batch_size,
            settings.forwarder.max_message_bytes,
            Duration::from_millis(settings.forwarder.linger_ms),
        )
        .await?;
        let broker = Arc::new(Broker::new(settings.amqp.clone(), format!("forwarder-{instance_id}")));
        let ops = Ops::new();
        let metrics = ForwarderMetrics::new(&ops.registry);
        ops.readiness.add_probe("redis", {
            let redis = claimer.connection();
            Arc::new(move || Box::pin(analytics_store::redis_probe(redis.clone())))
        });
        ops.readiness.add_probe("rabbitmq", {
            let broker = broker.clone();
            Arc::new(move || {
                let status = broker.status();
                Box::pin(async move { status })
            })
        });
        let progress =
            Progress::new(Duration::from_secs(settings.forwarder.stall_seconds), metrics.last_confirm.clone());
        ops.liveness.watch("forwarding", progress.clone());
        let (ops_server, port) = analytics_telemetry::serve_ops(&settings.http.address(), ops.clone())
            .with_context(|| format!("binding {}", settings.http.address()))?;
        Ok(Self { settings, ops, metrics, progress, claimer, broker, ops_server, port })
    }

    /// Port of the ops endpoints (`/metrics`, `/healthz`, `/readyz`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Republishes this instance's leftover batches, then claims and publishes
    /// until `shutdown`. On shutdown it stops claiming and gives in-flight
    /// publishes the grace period; whatever is unconfirmed then stays in its
    /// in-flight record for the next start.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let ops_handle = self.ops_server.handle();
        let ops_task = tokio::spawn(self.ops_server);
        let depth_task = tokio::spawn(
            DepthReader {
                redis: self.claimer.connection(),
                redis_settings: self.settings.redis.clone(),
                amqp_settings: self.settings.amqp.clone(),
                inflight_key: self.claimer.inflight_key().to_owned(),
                broker: self.broker.clone(),
                metrics: self.metrics.clone(),
                interval: Duration::from_millis(self.settings.forwarder.depth_interval_ms),
                progress: self.progress.clone(),
            }
            .run(shutdown.clone()),
        );

        let publisher = Publisher {
            claimer: self.claimer.clone(),
            broker: self.broker.clone(),
            metrics: self.metrics.clone(),
            progress: self.progress.clone(),
            confirm_timeout: Duration::from_millis(self.settings.forwarder.confirm_timeout_ms),
            shutdown: shutdown.clone(),
            active: Arc::default(),
        };
        let slots = Arc::new(Semaphore::new(self.settings.forwarder.max_in_flight.max(1)));
        let mut tasks = JoinSet::new();

        let heartbeat_ttl = Duration::from_millis(self.settings.forwarder.heartbeat_ttl_ms);
        let heartbeat_task = tokio::spawn({
            let claimer = self.claimer.clone();
            let shutdown = shutdown.clone();
            async move {
                loop {
                    if let Err(error) = claimer.heartbeat(heartbeat_ttl).await {
                        tracing::warn!(%error, "heartbeat failed");
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(heartbeat_ttl / 3) => {}
                    }
                }
            }
        });
        let adoption_interval = heartbeat_ttl / 2;
        let mut last_adoption: Option<std::time::Instant> = None;

        let mut recovered = false;
        let mut backoff = BACKOFF;
        while !shutdown.is_cancelled() {
            // Claim only what can be published now: the broker is up and a slot is free.
            let step = async {
                self.broker.ready().await.map_err(|e| e.to_string())?;
                // Batches claimed earlier: our own from a previous run (at start,
                // and after any error, since a claim whose reply was lost leaves
                // a registered batch nobody publishes), then, periodically,
                // those of instances that died.
                let mut leftovers = Vec::new();
                if !recovered {
                    let active = publisher.active.lock().expect("active lock").clone();
                    leftovers = self.claimer.owned_batches().await.map_err(|e| format!("redis: {e}"))?;
                    leftovers.retain(|batch| !active.contains(&batch.id));
                    recovered = true;
                }
                if last_adoption.is_none_or(|at| at.elapsed() >= adoption_interval) {
                    leftovers.extend(self.claimer.adopt_orphans().await.map_err(|e| format!("redis: {e}"))?);
                    last_adoption = Some(std::time::Instant::now());
                }
                if !leftovers.is_empty() {
                    tracing::info!(batches = leftovers.len(), "republishing batches left in flight");
                }
                for batch in leftovers {
                    let slot = slots.clone().acquire_owned().await.map_err(|e| e.to_string())?;
                    publisher.spawn(&mut tasks, batch, slot);
                }
                let slot = slots.clone().acquire_owned().await.map_err(|e| e.to_string())?;
                if let Some(batch) = self.claimer.next_batch().await.map_err(|e| format!("redis: {e}"))? {
                    publisher.spawn(&mut tasks, batch, slot);
                }
                Ok::<(), String>(())
            };
            let result = tokio::select! {
                _ = shutdown.cancelled() => break,
                result = step => result,
            };
            while tasks.try_join_next().is_some() {}
            match result {
                Ok(()) => backoff.reset(),
                Err(reason) => {
                    recovered = false;
                    tracing::warn!(reason, retry_in = ?backoff.next(), "not claiming");
                    if !backoff.wait(&shutdown).await {
                        break;
                    }
                }
            }
        }

        self.ops.readiness.begin_shutdown();
        let drained =
            tokio::time::timeout(self.settings.shutdown.grace(), async { while tasks.join_next().await.is_some() {} })
                .await;
        if drained.is_err() {
            tracing::warn!(
                left = tasks.len(),
                "grace period over; unconfirmed batches stay in flight for the next start"
            );
            tasks.abort_all();
        }
        depth_task.abort();
        heartbeat_task.abort();
        ops_handle.stop(true).await;
        let _ = ops_task.await;
        tracing::info!("forwarder stopped");
        Ok(())
    }
}

/// What a publish task needs; cloned into each task.
#[derive(Clone)]
struct Publisher {
    claimer: Claimer,
    broker: Arc<Broker>,
    metrics: ForwarderMetrics,
    progress: Progress,
    confirm_timeout: Duration,
    shutdown: Shutdown,
    /// Ids of the batches being published now, so recovery does not start a
    /// second publish of one.
    active: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Publisher {
    /// Starts publishing `batch`, marked active from this moment on.
    fn spawn(&self, tasks: &mut JoinSet<()>, batch: ClaimedBatch, slot: tokio::sync::OwnedSemaphorePermit) {
        self.active.lock().expect("active lock").insert(batch.id.clone());
        let publisher = self.clone();
        tasks.spawn(async move {
            publisher.publish_and_complete(&batch).await;
            publisher.active.lock().expect("active lock").remove(&batch.id);
            drop(slot);
        });
    }

    async fn publish_and_complete(&self, batch: &ClaimedBatch) {
        let events = batch.events.len() as u64;
        let mut backoff = BACKOFF;
        loop {
            self.metrics.batches.with_label_values(&["published"]).inc();
            self.metrics.events.with_label_values(&["published"]).inc_by(events);
            match self.broker.publish(batch, self.confirm_timeout).await {
                Ok(latency) => {
                    self.metrics.confirm_duration.observe(latency.as_secs_f64());
                    self.metrics.batches.with_label_values(&["confirmed"]).inc();
                    self.metrics.events.with_label_values(&["confirmed"]).inc_by(events);
                    self.progress.progressed();
                    self.complete(&batch.id).await;
                    return;
                }
                Err(error) => {
                    if matches!(error, PublishError::Nacked | PublishError::Returned(_)) {
                        self.metrics.batches.with_label_values(&["nacked"]).inc();
                    }
                    self.metrics.batches.with_label_values(&["retried"]).inc();
                    tracing::warn!(batch_id = batch.id, %error, retry_in = ?backoff.next(), "publish failed");
                }
            }
            if !backoff.wait(&self.shutdown).await {
                return;
            }
        }
    }

    /// Clears the in-flight record, retrying while Redis is unreachable: the
    /// batch is already in RabbitMQ, so a record left behind only means a
    /// duplicate publish that the aggregator will skip.
    async fn complete(&self, batch_id: &str) {
        let mut backoff = BACKOFF;
        loop {
            match self.claimer.complete(batch_id).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(batch_id, %error, "clearing the in-flight record failed")
                }
            }
            if !backoff.wait(&self.shutdown).await {
                return;
            }
        }
    }
}
