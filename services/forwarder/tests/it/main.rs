//! The forwarder on its own against real Redis and RabbitMQ: events put on
//! the Redis list by hand, batches read off the aggregate queue. Its faults
//! (broker and Redis restarts, instances killed) are tested with the other
//! services in `tests/e2e`.

mod forwarding;

use analytics_testkit::{InProcess, Namespace, any_port};

/// A forwarder in this process, in a namespace of its own.
pub struct TestForwarder {
    pub namespace: Namespace,
    pub ops_url: String,
    pub instance_id: String,
    http: reqwest::Client,
    running: InProcess,
}

impl TestForwarder {
    /// Starts a forwarder with `overrides` (`ANALYTICS__FORWARDER__...`).
    pub async fn start(namespace: Namespace, overrides: &[(String, String)]) -> Self {
        let mut settings: analytics_forwarder::Settings =
            analytics_testkit::settings(analytics_forwarder::Settings::DEFAULTS, overrides);
        settings.http = any_port();
        settings.redis = namespace.redis.clone();
        settings.amqp = namespace.amqp.clone();
        let instance_id = format!("{}-forwarder", namespace.name);
        settings.forwarder.instance_id = instance_id.clone();
        settings.forwarder.depth_interval_ms = 200;
        let app = analytics_forwarder::Application::build(settings).await.expect("forwarder builds");
        let ops_url = format!("http://127.0.0.1:{}", app.port());
        let mut running = InProcess::new();
        running.spawn(|stop| app.run_until_stopped(stop));
        Self { namespace, ops_url, instance_id, http: reqwest::Client::new(), running }
    }

    /// The value of a metric series of the forwarder, 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        analytics_testkit::metric(&self.http, &self.ops_url, series).await
    }

    pub async fn stop(self) {
        self.running.stop().await
    }
}
