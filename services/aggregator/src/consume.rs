//! The RabbitMQ side: consume with manual acks, apply, then ack.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use analytics_config::AmqpSettings;
use analytics_events::{EventBatch, Message};
use analytics_store::PgPool;
use analytics_store::sites::SiteDirectory;
use analytics_telemetry::Shutdown;
use anyhow::Context;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::FieldTable;

use crate::apply::{Applied, ApplyError, apply_batch};
use crate::metrics::AggregatorMetrics;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub struct Consumer {
    pub amqp: AmqpSettings,
    pub prefetch: u16,
    pub pool: PgPool,
    pub sites: SiteDirectory,
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

    /// One connection's lifetime. Deliveries are handled one at a time; the
    /// prefetch keeps the next ones on their way meanwhile. On shutdown the
    /// current delivery finishes, and closing the connection hands the
    /// prefetched, unacked ones back to the queue.
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
            let delivery = next.context("consumer cancelled by the broker")?.context("delivery failed")?;
            self.handle(delivery, shutdown).await?;
        }
        let _ = connection.close(200, "shutting down".into()).await;
        Ok(())
    }

    async fn handle(&self, delivery: Delivery, shutdown: &Shutdown) -> anyhow::Result<()> {
        let batch = match EventBatch::decode(delivery.data.as_slice()) {
            Ok(batch) => batch,
            Err(error) => return self.reject(&delivery, &error.to_string()).await,
        };
        let mut backoff = MIN_BACKOFF;
        loop {
            let started = std::time::Instant::now();
            match apply_batch(&self.pool, &self.sites, &batch).await {
                Ok(applied) => {
                    self.metrics.apply_duration.observe(started.elapsed().as_secs_f64());
                    delivery.ack(BasicAckOptions::default()).await.context("ack")?;
                    self.record(&batch, applied);
                    return Ok(());
                }
                Err(ApplyError::Poison(reason)) => return self.reject(&delivery, &reason).await,
                Err(ApplyError::Database(error)) => {
                    // Retried here rather than nacked: a Postgres outage must not
                    // use up the queue's delivery limit and dead-letter good batches.
                    self.metrics.batches.with_label_values(&["retried"]).inc();
                    tracing::warn!(batch_id = batch.batch_id, error = format!("{error:#}"), retry_in = ?backoff, "apply failed");
                    tokio::select! {
                        // Unacked: the broker redelivers it when this connection closes.
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

    fn record(&self, batch: &EventBatch, applied: Applied) {
        match applied {
            Applied::Duplicate => {
                self.metrics.batches.with_label_values(&["duplicate"]).inc();
            }
            Applied::Counted { counted, unknown_site } => {
                self.metrics.batches.with_label_values(&["applied"]).inc();
                self.metrics.events.with_label_values(&["counted"]).inc_by(counted as u64);
                self.metrics.events.with_label_values(&["unknown_site"]).inc_by(unknown_site as u64);
                let now_ms = chrono::Utc::now().timestamp_millis();
                for event in &batch.events {
                    self.metrics.lag.observe((now_ms - event.received_ms).max(0) as f64 / 1000.0);
                }
            }
        }
    }
}
