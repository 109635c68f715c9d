//! Queue depths for Grafana, read every few seconds: the Redis list, this
//! instance's in-flight batches, the broker's aggregate and dead-letter queues,
//! and how old the oldest waiting event is.

use std::sync::Arc;
use std::time::Duration;

use analytics_config::{AmqpSettings, RedisSettings};
use analytics_events::{Event, Message};
use analytics_telemetry::{Progress, Shutdown};
use redis::aio::ConnectionManager;

use crate::metrics::ForwarderMetrics;
use crate::publish::Broker;

pub struct DepthReader {
    pub redis: ConnectionManager,
    pub redis_settings: RedisSettings,
    pub amqp_settings: AmqpSettings,
    pub inflight_key: String,
    pub broker: Arc<Broker>,
    pub metrics: ForwarderMetrics,
    pub interval: Duration,
    /// Told whether events wait (in the list or in flight), for `/healthz`.
    pub progress: Progress,
}

impl DepthReader {
    pub async fn run(self, shutdown: Shutdown) {
        let mut side_channel = None;
        loop {
            if let Err(error) = self.read_redis().await {
                tracing::debug!(%error, "reading redis depths failed");
            }
            if side_channel.is_none() {
                side_channel = self.broker.side_channel().await.ok();
            }
            if let Some(channel) = &side_channel
                && let Err(error) = self.read_broker(channel).await
            {
                tracing::debug!(error = format!("{error:#}"), "reading broker depths failed");
                side_channel = None;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    async fn read_redis(&self) -> redis::RedisResult<()> {
        let queue = self.redis_settings.queue_key();
        let (length, inflight, oldest): (i64, i64, Option<Vec<u8>>) = redis::pipe()
            .llen(&queue)
            .scard(&self.inflight_key)
            .lindex(&queue, -1)
            .query_async(&mut self.redis.clone())
            .await?;
        self.metrics.queue_depth.with_label_values(&["redis"]).set(length);
        self.metrics.inflight_batches.set(inflight);
        if length > 0 || inflight > 0 {
            self.progress.waiting();
        } else {
            self.progress.idle();
        }
        let age = oldest
            .and_then(|bytes| Event::decode(bytes.as_slice()).ok())
            .map(|event| now_ms().saturating_sub(event.received_ms).max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        self.metrics.oldest_event_age.set(age);
        Ok(())
    }

    async fn read_broker(&self, channel: &lapin::Channel) -> anyhow::Result<()> {
        for (label, queue) in
            [("aggregate", self.amqp_settings.queue()), ("dead", self.amqp_settings.dead_letter_queue())]
        {
            let depth = analytics_store::amqp::queue_depth(channel, &self.amqp_settings, &queue).await?;
            self.metrics.queue_depth.with_label_values(&[label]).set(i64::from(depth));
        }
        Ok(())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
