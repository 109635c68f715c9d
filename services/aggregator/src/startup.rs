//! Builds the aggregator from settings and runs its consumer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use analytics_store::sites::SiteDirectory;
use analytics_telemetry::{Ops, Shutdown};
use anyhow::Context;

use crate::apply::Applier;
use crate::classify::Classifier;
use crate::consume::Consumer;
use crate::metrics::AggregatorMetrics;
use crate::partitions::Partitions;
use crate::settings::Settings;

pub struct Application {
    settings: Settings,
    ops: Ops,
    consumer: Consumer,
    ops_server: actix_web::dev::Server,
    port: u16,
}

/// Longest the consumer waits at start for the coming days' partitions.
const PARTITIONS_AHEAD_WAIT: Duration = Duration::from_secs(10);

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = analytics_store::pg_pool(&settings.postgres)?;
        let sites = SiteDirectory::new(pool.clone(), &settings.postgres);
        if let Err(error) = sites.refresh().await {
            tracing::warn!(error = format!("{error:#}"), "initial site load failed");
        }
        let ops = Ops::new();
        let metrics = AggregatorMetrics::new(&ops.registry);
        let classifier = Classifier::load(
            &settings.aggregator.ua_regexes,
            settings.aggregator.ua_cache_size,
            metrics.ua_patterns_compiled.clone(),
        )?;
        let status = Arc::new(Mutex::new(Err("not connected yet".to_owned())));
        let probed = pool.clone();
        ops.readiness.add_probe("postgres", move || analytics_store::pg_probe(probed.clone()));
        let consumer_status = status.clone();
        ops.readiness
            .add_probe("rabbitmq", move || std::future::ready(consumer_status.lock().expect("status lock").clone()));
        let applier = Arc::new(Applier {
            pool,
            sites,
            classifier,
            partitions: Partitions::new(settings.aggregator.events_days()),
            sessions: settings.aggregator.sessions,
            max_values_per_day: settings.aggregator.max_values_per_day,
        });
        let progress = analytics_telemetry::Progress::new(
            Duration::from_secs(settings.aggregator.stall_seconds),
            metrics.last_commit.clone(),
        );
        ops.liveness.watch("consumer", progress.clone());
        let consumer = Consumer {
            amqp: settings.amqp.clone(),
            prefetch: settings.aggregator.prefetch,
            max_group: settings.aggregator.max_group.max(1),
            gather: Duration::from_millis(settings.aggregator.gather_ms),
            max_message_bytes: settings.aggregator.max_message_bytes,
            retention_days: settings.aggregator.retention_days,
            applier,
            metrics,
            status,
            progress,
            name: format!("aggregator-{}", uuid::Uuid::new_v4()),
        };
        let (ops_server, port) = analytics_telemetry::serve_ops(&settings.http.address(), ops.clone())
            .with_context(|| format!("binding {}", settings.http.address()))?;
        Ok(Self { settings, ops, consumer, ops_server, port })
    }

    /// Port of the ops endpoints (`/metrics`, `/healthz`, `/readyz`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Consumes until `shutdown`; the group being applied then finishes
    /// (within the grace period) and the rest go back to the queue.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let ops_handle = self.ops_server.handle();
        let ops_task = tokio::spawn(self.ops_server);
        let applier = self.consumer.applier.clone();
        let refresher = applier
            .sites
            .spawn_watcher(Duration::from_secs(self.settings.aggregator.site_refresh_seconds), shutdown.clone());
        // The coming days' partitions first (see `maintenance::ensure_ahead`);
        // should Postgres not answer in time, the consumer creates them as
        // batches need them and the maintenance rounds retry.
        let ahead = async {
            let mut client = applier.pool.get().await?;
            crate::maintenance::ensure_ahead(&mut client, &applier.partitions, &self.settings.aggregator).await?;
            anyhow::Ok(())
        };
        match tokio::time::timeout(PARTITIONS_AHEAD_WAIT, ahead).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(error = format!("{error:#}"), "creating the coming days' partitions failed")
            }
            Err(_) => tracing::warn!("creating the coming days' partitions took too long; consuming meanwhile"),
        }
        let maintenance =
            tokio::spawn(crate::maintenance::run(applier, self.settings.aggregator.clone(), shutdown.clone()));
        let consumer = self.consumer;
        let run = consumer.run(shutdown.clone());
        tokio::pin!(run);
        // The consumer returns once it has seen the stop request and finished
        // the deliveries in hand, which may take up to the grace period.
        let finished = tokio::select! {
            _ = &mut run => true,
            _ = shutdown.cancelled() => false,
        };
        self.ops.readiness.begin_shutdown();
        if !finished && tokio::time::timeout(self.settings.shutdown.grace(), &mut run).await.is_err() {
            tracing::warn!("grace period over; unacked deliveries return to the queue");
        }
        refresher.abort();
        maintenance.abort();
        ops_handle.stop(true).await;
        let _ = ops_task.await;
        tracing::info!("aggregator stopped");
        Ok(())
    }
}
