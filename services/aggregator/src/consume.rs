//! The RabbitMQ side: consume with manual acks, apply, then ack.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use analytics_config::AmqpSettings;
use analytics_events::{EventBatch, Message};
use analytics_telemetry::Shutdown;
use anyhow::Context;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::FieldTable;
use uuid::Uuid;

use crate::apply::{Applier, Outcome};
use crate::metrics::AggregatorMetrics;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub struct Consumer {
    pub amqp: AmqpSettings,
    pub prefetch: u16,
    /// Deliveries already waiting are applied together, up to this many per transaction.
    pub max_group: usize,
    pub applier: Arc<Applier>,
    pub metrics: AggregatorMetrics,
    /// Last known broker state, for `/readyz`.
    pub status: Arc<Mutex<Result<(), String>>>,
    pub name: String,
}

impl Consumer {
    /// Consumes until `shutdown`, reconnecting with backoff when the broker goes away.
    pub async fn run(&self, shutdown: Shutdown) {
        let mut backoff = MIN_BACKOFF;
        while !shutdown.is_cancelled() {
            match self.consume_once(&shutdown).await {
                Ok(()) => backoff = MIN_BACKOFF,
                Err(error) => {
                    *self.status.lock().expect("status lock") = Err(format!("rabbitmq: {error:#}"));
                    tracing::warn!(error = format!("{error:#}"), retry_in = ?backoff, "consumer stopped");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One connection's lifetime. On shutdown the group being applied
    /// finishes, and closing the connection hands the prefetched, unacked
    /// deliveries back to the queue.
    async fn consume_once(&self, shutdown: &Shutdown) -> anyhow::Result<()> {
        let connection = analytics_store::amqp::amqp_connect(&self.amqp, &self.name).await?;
        let channel = connection.create_channel().await?;
        analytics_store::amqp::declare_topology(&channel, &self.amqp).await?;
        channel.basic_qos(self.prefetch, BasicQosOptions::default()).await?;
        let mut deliveries = channel
            .basic_consume(
                self.amqp.queue().as_str().into(),
                self.name.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        *self.status.lock().expect("status lock") = Ok(());
        tracing::info!(queue = self.amqp.queue(), "consuming");
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = deliveries.next() => next,
            };
            let mut group = vec![next.context("consumer cancelled by the broker")?.context("delivery failed")?];
            // Whatever else has already arrived joins the same transaction.
            while group.len() < self.max_group {
                match deliveries.next().now_or_never() {
                    Some(Some(delivery)) => group.push(delivery.context("delivery failed")?),
                    Some(None) | None => break,
                }
            }
            self.handle(group, shutdown).await?;
        }
        let _ = connection.close(200, "shutting down".into()).await;
        Ok(())
    }

    async fn handle(&self, group: Vec<Delivery>, shutdown: &Shutdown) -> anyhow::Result<()> {
        let mut batches = Vec::with_capacity(group.len());
        let mut deliveries = Vec::with_capacity(group.len());
        for delivery in group {
            match decode(&delivery.data) {
                Ok(batch) => {
                    batches.push(batch);
                    deliveries.push(delivery);
                }
                Err(reason) => self.reject(&delivery, &reason).await?,
            }
        }
        if batches.is_empty() {
            return Ok(());
        }
        let mut backoff = MIN_BACKOFF;
        loop {
            let started = std::time::Instant::now();
            match self.applier.apply(&batches).await {
                Ok(outcome) => {
                    self.metrics.apply_duration.observe(started.elapsed().as_secs_f64());
                    for delivery in &deliveries {
                        delivery.ack(BasicAckOptions::default()).await.context("ack")?;
                    }
                    self.record(&batches, outcome);
                    return Ok(());
                }
                Err(error) => {
                    // Retried here rather than nacked: a Postgres outage must not
                    // use up the queue's delivery limit and dead-letter good batches.
                    self.metrics.batches.with_label_values(&["retried"]).inc_by(batches.len() as u64);
                    tracing::warn!(%error, retry_in = ?backoff, "apply failed");
                    tokio::select! {
                        // Unacked: the broker redelivers them when this connection closes.
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Sends an undecodable or invalid message to the dead-letter queue.
    async fn reject(&self, delivery: &Delivery, reason: &str) -> anyhow::Result<()> {
        self.metrics.batches.with_label_values(&["poison"]).inc();
        tracing::error!(reason, bytes = delivery.data.len(), "dead-lettering a message that cannot be applied");
        delivery.reject(BasicRejectOptions { requeue: false }).await.map(|_| ()).context("reject")
    }

    fn record(&self, batches: &[(Uuid, EventBatch)], outcome: Outcome) {
        self.metrics.batches.with_label_values(&["applied"]).inc_by(outcome.applied_batches as u64);
        self.metrics.batches.with_label_values(&["duplicate"]).inc_by(outcome.duplicate_batches as u64);
        self.metrics.events.with_label_values(&["counted"]).inc_by(outcome.deltas.counted as u64);
        for (reason, n) in &outcome.deltas.dropped {
            self.metrics.dropped.with_label_values(&[reason]).inc_by(*n as u64);
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        for (_, batch) in batches {
            if let Some(oldest) = batch.events.iter().map(|e| e.received_ms).min() {
                self.metrics.lag.observe((now_ms - oldest).max(0) as f64 / 1000.0);
            }
        }
    }
}

/// A message is applicable when it decodes and carries a UUID batch id.
fn decode(data: &[u8]) -> Result<(Uuid, EventBatch), String> {
    let batch = EventBatch::decode(data).map_err(|e| format!("undecodable: {e}"))?;
    let id = Uuid::parse_str(&batch.batch_id).map_err(|_| format!("batch_id {:?} is not a UUID", batch.batch_id))?;
    Ok((id, batch))
}
