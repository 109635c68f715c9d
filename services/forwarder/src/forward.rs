//! The forwarding engine: claims batches off the Redis list and publishes
//! them, at most `max_in_flight` awaiting their confirm at once; republishes
//! what this instance (in an earlier life) and dead instances left in flight;
//! and on shutdown gives the publishes in progress a grace period.

use std::sync::Arc;
use std::time::{Duration, Instant};

use analytics_telemetry::{Backoff, Progress, Shutdown};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::claim::{ClaimedBatch, Claimer};
use crate::metrics::ForwarderMetrics;
use crate::publish::{Broker, PublishError};

/// Retry pauses grow from 100 ms to 5 s.
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// Why a round of claiming stopped short; the engine waits and tries again.
#[derive(Debug, thiserror::Error)]
enum ClaimError {
    #[error("rabbitmq: {0}")]
    Broker(#[from] PublishError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("publish slots closed")]
    SlotsClosed(#[from] tokio::sync::AcquireError),
}

pub struct Engine {
    claimer: Claimer,
    publisher: Publisher,
    /// One permit per batch awaiting its confirm.
    slots: Arc<Semaphore>,
    tasks: JoinSet<()>,
    /// How often the in-flight records of dead instances are looked for.
    adoption_interval: Duration,
    last_adoption: Option<Instant>,
    /// Whether this instance's own leftovers were taken up since the last error.
    recovered: bool,
}

/// What the engine is given by the application.
pub struct EngineParts {
    pub claimer: Claimer,
    pub broker: Arc<Broker>,
    pub metrics: ForwarderMetrics,
    pub progress: Progress,
    pub confirm_timeout: Duration,
    pub max_in_flight: usize,
    pub adoption_interval: Duration,
}

impl Engine {
    pub fn new(parts: EngineParts, shutdown: &Shutdown) -> Self {
        let publisher = Publisher {
            claimer: parts.claimer.clone(),
            broker: parts.broker,
            metrics: parts.metrics,
            progress: parts.progress,
            confirm_timeout: parts.confirm_timeout,
            shutdown: shutdown.clone(),
            active: Arc::default(),
        };
        Self {
            claimer: parts.claimer,
            publisher,
            slots: Arc::new(Semaphore::new(parts.max_in_flight.max(1))),
            tasks: JoinSet::new(),
            adoption_interval: parts.adoption_interval,
            last_adoption: None,
            recovered: false,
        }
    }

    /// Claims and publishes until `shutdown`, backing off while Redis or the
    /// broker is away.
    pub async fn run(&mut self, shutdown: &Shutdown) {
        let mut backoff = BACKOFF;
        while !shutdown.is_cancelled() {
            let result = tokio::select! {
                _ = shutdown.cancelled() => break,
                result = self.claim_round() => result,
            };
            while self.tasks.try_join_next().is_some() {}
            match result {
                Ok(()) => backoff.reset(),
                Err(error) => {
                    // A claim whose reply was lost leaves a registered batch
                    // nobody publishes: look for our own leftovers again.
                    self.recovered = false;
                    tracing::warn!(%error, retry_in = ?backoff.next(), "not claiming");
                    if !backoff.wait(shutdown).await {
                        break;
                    }
                }
            }
        }
    }

    /// One round: claims only what can be published now (the broker is up and
    /// a slot is free). Leftovers first: our own from a previous run (at start
    /// and after any error), then, periodically, those of instances that died.
    async fn claim_round(&mut self) -> Result<(), ClaimError> {
        self.publisher.broker.ready().await?;
        let mut leftovers = Vec::new();
        if !self.recovered {
            let active = self.publisher.active.lock().expect("active lock").clone();
            leftovers = self.claimer.owned_batches().await?;
            leftovers.retain(|batch| !active.contains(&batch.id));
            self.recovered = true;
        }
        if self.last_adoption.is_none_or(|at| at.elapsed() >= self.adoption_interval) {
            leftovers.extend(self.claimer.adopt_orphans().await?);
            self.last_adoption = Some(Instant::now());
        }
        if !leftovers.is_empty() {
            tracing::info!(batches = leftovers.len(), "republishing batches left in flight");
        }
        for batch in leftovers {
            let slot = self.slots.clone().acquire_owned().await?;
            self.publisher.spawn(&mut self.tasks, batch, slot);
        }
        let slot = self.slots.clone().acquire_owned().await?;
        if let Some(batch) = self.claimer.next_batch().await? {
            self.publisher.spawn(&mut self.tasks, batch, slot);
        }
        Ok(())
    }

    /// Waits up to `grace` for the publishes in progress; whatever is
    /// unconfirmed then stays in its in-flight record for the next start.
    pub async fn drain(mut self, grace: Duration) {
        let tasks = &mut self.tasks;
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await.is_err() {
            tracing::warn!(
                left = tasks.len(),
                "grace period over; unconfirmed batches stay in flight for the next start"
            );
            tasks.abort_all();
        }
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
    fn spawn(&self, tasks: &mut JoinSet<()>, batch: ClaimedBatch, slot: OwnedSemaphorePermit) {
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
