//! The RabbitMQ side: consume with manual acks, apply, then ack.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use analytics_config::AmqpSettings;
use analytics_telemetry::{Backoff, Progress, Shutdown};
use anyhow::Context;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};

use crate::apply::{Applier, Outcome};
use crate::incoming::{Incoming, TimeWindow};
use crate::metrics::AggregatorMetrics;

/// Retry pauses grow from 100 ms to 5 s.
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// Header of a dead-lettered message that says why it could not be applied.
pub const REASON_HEADER: &str = "x-analytics-reason";

pub struct Consumer {
    pub amqp: AmqpSettings,
    pub prefetch: u16,
    /// Deliveries already waiting are applied together, up to this many per transaction.
    pub max_group: usize,
    /// How long a group short of `max_group` waits for more deliveries.
    pub gather: Duration,
    /// A larger message is dead-lettered unread (see `max_message_bytes`).
    pub max_message_bytes: usize,
    /// Events older than this are past the rollups' retention: dropped.
    pub retention_days: u64,
    pub applier: Arc<Applier>,
    pub metrics: AggregatorMetrics,
    /// Last known broker state, for `/readyz`.
    pub status: Arc<Mutex<Result<(), String>>>,
    /// Deliveries in hand and commits, for `/healthz`.
    pub progress: Progress,
    pub name: String,
}

impl Consumer {
    /// Consumes until `shutdown`, reconnecting with backoff when the broker goes away.
    pub async fn run(&self, shutdown: Shutdown) {
        let mut backoff = BACKOFF;
        while !shutdown.is_cancelled() {
            match self.consume_once(&shutdown).await {
                Ok(()) => backoff.reset(),
                Err(error) => {
                    self.progress.idle();
                    *self.status.lock().expect("status lock") = Err(format!("rabbitmq: {error:#}"));
                    tracing::warn!(error = format!("{error:#}"), retry_in = ?backoff.next(), "consumer stopped");
                    if !backoff.wait(&shutdown).await {
                        return;
                    }
                }
            }
        }
    }

    /// One connection's lifetime. On shutdown the group being applied
    /// finishes, and closing the connection hands the prefetched, unacked
    /// deliveries back to the queue.
    async fn consume_once(&self, shutdown: &Shutdown) -> anyhow::Result<()> {
        let (connection, dead_letters, watch_channel, mut deliveries) =
            analytics_store::amqp::within_reply_timeout(&self.amqp, "starting to consume", async {
                let connection = analytics_store::amqp::amqp_connect(&self.amqp, &self.name).await?;
                let channel = connection.create_channel().await?;
                analytics_store::amqp::declare_topology(&connection, &self.amqp).await?;
                channel.basic_qos(self.prefetch, BasicQosOptions::default()).await?;
                let dead_letters = connection.create_channel().await?;
                dead_letters.confirm_select(ConfirmSelectOptions::default()).await?;
                let watch_channel = connection.create_channel().await?;
                let deliveries = channel
                    .basic_consume(
                        self.amqp.queue().as_str().into(),
                        self.name.as_str().into(),
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
                Ok((connection, dead_letters, watch_channel, deliveries))
            })
            .await?;
        *self.status.lock().expect("status lock") = Ok(());
        tracing::info!(queue = self.amqp.queue(), "consuming");
        let mut stall = StallWatch::default();
        let mut check = tokio::time::interval(self.amqp.reply_timeout());
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        check.reset();
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = check.tick() => {
                    self.check_deliveries_come(&watch_channel, &mut stall).await?;
                    continue;
                }
                next = deliveries.next() => next,
            };
            stall.delivered();
            let mut group = vec![next.context("consumer cancelled by the broker")?.context("delivery failed")?];
            // Whatever else arrives within `gather` (at once: whatever has
            // already arrived) joins the same transaction. Under a backlog
            // groups fill at once; below it, the wait trades a little
            // freshness for larger transactions (see `gather_ms`).
            let gathered_by = tokio::time::Instant::now() + self.gather;
            while group.len() < self.max_group {
                // The stream is polled before the deadline is checked, so a
                // delivery already here is taken even when the wait is over.
                match tokio::time::timeout_at(gathered_by, deliveries.next()).await {
                    Ok(Some(delivery)) => group.push(delivery.context("delivery failed")?),
                    Ok(None) | Err(_) => break,
                }
            }
            self.progress.waiting();
            self.handle(group, &dead_letters, shutdown).await?;
            self.progress.idle();
        }
        let _ = connection.close(200, "shutting down".into()).await;
        Ok(())
    }

    /// Fails (so the consumer connects anew) when the queue has had messages
    /// ready at two checks in a row while none came to this idle consumer, or
    /// when the broker does not answer the question: a consumer the broker
    /// forgot (or a connection that went quiet) must not stop counting while
    /// the service looks healthy.
    async fn check_deliveries_come(&self, channel: &Channel, stall: &mut StallWatch) -> anyhow::Result<()> {
        if stall.take_delivered() {
            return Ok(());
        }
        let ready = analytics_store::amqp::queue_depth(channel, &self.amqp, &self.amqp.queue()).await?;
        if stall.undelivered(ready) {
            anyhow::bail!("{ready} messages ready in {} but none delivered for two checks", self.amqp.queue());
        }
        Ok(())
    }

    async fn handle(&self, group: Vec<Delivery>, dead_letters: &Channel, shutdown: &Shutdown) -> anyhow::Result<()> {
        let window = TimeWindow::around(chrono::Utc::now().timestamp_millis(), self.retention_days);
        let mut batches = Vec::with_capacity(group.len());
        let mut deliveries = Vec::with_capacity(group.len());
        for delivery in group {
            match crate::incoming::decode(&delivery.data, self.max_message_bytes, window) {
                Ok(batch) => {
                    batches.push(batch);
                    deliveries.push(delivery);
                }
                Err(reason) => self.dead_letter(&delivery, &reason, dead_letters).await?,
            }
        }
        if batches.is_empty() {
            self.progress.progressed();
            return Ok(());
        }
        let Some(outcome) = self.apply_until_done(&batches, shutdown).await else {
            // Shutting down; unacked, the broker redelivers them when this connection closes.
            return Ok(());
        };
        for (delivery, batch) in deliveries.iter().zip(&batches) {
            match outcome.refused_batches.iter().find(|(id, _)| *id == batch.id) {
                Some((_, reason)) => self.dead_letter(delivery, reason, dead_letters).await?,
                None => {
                    // Bounded like every broker call: an ack on a connection
                    // that died under it must end in a reconnect, not a wait.
                    let ack = async { delivery.ack(BasicAckOptions::default()).await.context("ack") };
                    analytics_store::amqp::within_reply_timeout(&self.amqp, "ack", ack).await?;
                }
            }
        }
        self.progress.progressed();
        self.record(&batches, outcome);
        Ok(())
    }

    /// Applies `batches`, retrying transient failures in place rather than
    /// nacking (a Postgres outage must not use up the queue's delivery limit
    /// and dead-letter good batches). `None` when shutdown came first.
    async fn apply_until_done(&self, batches: &[Incoming], shutdown: &Shutdown) -> Option<Outcome> {
        let mut backoff = BACKOFF;
        loop {
            let started = std::time::Instant::now();
            match self.applier.apply(batches).await {
                Ok(outcome) => {
                    self.metrics.apply_duration.observe(started.elapsed().as_secs_f64());
                    return Some(outcome);
                }
                Err(error) => {
                    self.metrics.batches.with_label_values(&["retried"]).inc_by(batches.len() as u64);
                    tracing::warn!(error = format!("{error:#}"), retry_in = ?backoff.next(), "apply failed");
                    if !backoff.wait(shutdown).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Moves a message that cannot be applied to the dead-letter queue, with
    /// the reason in [`REASON_HEADER`]: published there (confirmed) and then
    /// acked. Should that publish fail, the message is rejected instead,
    /// which the queue dead-letters too, only without our header.
    async fn dead_letter(&self, delivery: &Delivery, reason: &str, channel: &Channel) -> anyhow::Result<()> {
        self.metrics.batches.with_label_values(&["poison"]).inc();
        tracing::error!(reason, bytes = delivery.data.len(), "dead-lettering a message that cannot be applied");
        let mut headers = FieldTable::default();
        headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
        let mut properties = BasicProperties::default().with_delivery_mode(2).with_headers(headers);
        if let Some(id) = delivery.properties.message_id() {
            properties = properties.with_message_id(id.clone());
        }
        let published = async {
            let confirm = channel
                .basic_publish(
                    self.amqp.dead_letter_exchange().as_str().into(),
                    "".into(),
                    BasicPublishOptions::default(),
                    &delivery.data,
                    properties,
                )
                .await?;
            anyhow::Ok(confirm.await?.is_ack())
        };
        let settled = async {
            match published.await {
                Ok(true) => delivery.ack(BasicAckOptions::default()).await.map(|_| ()).context("ack"),
                outcome => {
                    tracing::warn!(?outcome, "publishing the dead letter failed; rejecting it instead");
                    delivery.reject(BasicRejectOptions { requeue: false }).await.map(|_| ()).context("reject")
                }
            }
        };
        analytics_store::amqp::within_reply_timeout(&self.amqp, "dead-lettering", settled).await
    }

    fn record(&self, batches: &[Incoming], outcome: Outcome) {
        self.metrics.batches.with_label_values(&["applied"]).inc_by(outcome.applied_batches as u64);
        self.metrics.batches.with_label_values(&["duplicate"]).inc_by(outcome.duplicate_batches as u64);
        self.metrics.events.with_label_values(&["counted"]).inc_by(outcome.counted as u64);
        for (reason, n) in &outcome.dropped {
            self.metrics.dropped.with_label_values(&[reason]).inc_by(*n as u64);
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        for batch in batches {
            if let Some(oldest) = batch.events.iter().map(|e| e.received_ms).min() {
                self.metrics.lag.observe(now_ms.saturating_sub(oldest).max(0) as f64 / 1000.0);
            }
        }
    }
}

/// Whether deliveries still come, between two checks of the queue.
#[derive(Default)]
struct StallWatch {
    delivered: bool,
    /// The last check found messages ready although none had come.
    ready_undelivered: bool,
}

impl StallWatch {
    fn delivered(&mut self) {
        self.delivered = true;
    }

    /// Whether anything was delivered since the last check (and starts over).
    fn take_delivered(&mut self) -> bool {
        let delivered = std::mem::take(&mut self.delivered);
        if delivered {
            self.ready_undelivered = false;
        }
        delivered
    }

    /// Records a check that found `ready` messages and no delivery since the
    /// last one; true at the second such check in a row.
    fn undelivered(&mut self, ready: u32) -> bool {
        let stalled = ready > 0 && self.ready_undelivered;
        self.ready_undelivered = ready > 0;
        stalled
    }
}

#[cfg(test)]
mod tests {
    use super::StallWatch;

    #[test]
    fn a_stall_is_two_checks_in_a_row_with_messages_ready_and_none_delivered() {
        let mut watch = StallWatch::default();
        assert!(!watch.take_delivered());
        assert!(!watch.undelivered(5), "one check may catch messages that just arrived");
        assert!(watch.undelivered(5), "the second in a row is a stall");

        let mut watch = StallWatch::default();
        assert!(!watch.undelivered(5));
        watch.delivered();
        assert!(watch.take_delivered(), "a delivery in between starts over");
        assert!(!watch.undelivered(5));

        let mut watch = StallWatch::default();
        assert!(!watch.undelivered(5));
        assert!(!watch.undelivered(0), "an empty queue is no stall");
        assert!(!watch.undelivered(5));
        assert!(!watch.undelivered(0));
    }
}
