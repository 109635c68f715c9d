//! Builds the forwarder from settings and runs it: the ops endpoints, the
//! queue-depth reader, the heartbeat and the forwarding engine (`forward.rs`).

use std::sync::Arc;
use std::time::Duration;

use analytics_telemetry::{Ops, Progress, Shutdown};
use anyhow::Context;

use crate::claim::Claimer;
use crate::depth::DepthReader;
use crate::forward::{Engine, EngineParts};
use crate::metrics::ForwarderMetrics;
use crate::publish::Broker;
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
        let redis = claimer.connection();
        ops.readiness.add_probe("redis", move || analytics_store::redis_probe(redis.clone()));
        let link = broker.clone();
        ops.readiness.add_probe("rabbitmq", move || std::future::ready(link.status()));
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

        let heartbeat_ttl = Duration::from_millis(self.settings.forwarder.heartbeat_ttl_ms);
        let heartbeat_task = self.claimer.spawn_heartbeat(heartbeat_ttl, shutdown.clone());
        let mut engine = Engine::new(
            EngineParts {
                claimer: self.claimer,
                broker: self.broker,
                metrics: self.metrics,
                progress: self.progress,
                confirm_timeout: Duration::from_millis(self.settings.forwarder.confirm_timeout_ms),
                max_in_flight: self.settings.forwarder.max_in_flight,
                adoption_interval: heartbeat_ttl / 2,
            },
            &shutdown,
        );
        engine.run(&shutdown).await;

        self.ops.readiness.begin_shutdown();
        engine.drain(self.settings.shutdown.grace()).await;
        depth_task.abort();
        heartbeat_task.abort();
        ops_handle.stop(true).await;
        let _ = ops_task.await;
        tracing::info!("forwarder stopped");
        Ok(())
    }
}
