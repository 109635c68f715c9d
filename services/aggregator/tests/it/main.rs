//! The aggregator on its own against real RabbitMQ and Postgres: batches put
//! on its exchange by hand, rollups read from the database. The services
//! together are tested in `tests/e2e`.

mod app_traffic;
mod counting;
mod grouping;
mod pool;
mod retention;
mod sketches;

use analytics_testkit::{InProcess, Namespace, any_port};

/// An aggregator in this process, in a namespace of its own with one site.
pub struct TestAggregator {
    pub namespace: Namespace,
    pub aggregator_ops_url: String,
    pub site_id: String,
    http: reqwest::Client,
    running: InProcess,
}

impl TestAggregator {
    /// Starts an aggregator and creates a site in `timezone`.
    pub async fn start(timezone: &str) -> Self {
        Self::start_with(timezone, |_| {}).await
    }

    /// [`Self::start`] with the aggregator's settings changed by `adjust` last.
    pub async fn start_with(timezone: &str, adjust: impl FnOnce(&mut analytics_aggregator::Settings)) -> Self {
        let namespace = Namespace::create().await;
        let (site_id, _token) = namespace.add_site(&format!("{}.example", namespace.name), timezone).await;
        let mut settings: analytics_aggregator::Settings =
            analytics_testkit::settings(analytics_aggregator::Settings::DEFAULTS, &[]);
        settings.http = any_port();
        settings.amqp = settings.amqp.on_broker_of(&namespace.amqp);
        settings.postgres = namespace.postgres.clone();
        settings.aggregator.ua_regexes = analytics_testkit::ua_regexes();
        adjust(&mut settings);
        let app = analytics_aggregator::Application::build(settings).await.expect("aggregator builds");
        let aggregator_ops_url = format!("http://127.0.0.1:{}", app.port());
        let mut running = InProcess::new();
        running.spawn(|stop| app.run_until_stopped(stop));
        Self { namespace, aggregator_ops_url, site_id, http: reqwest::Client::new(), running }
    }

    /// Publishes raw bytes to the aggregator's exchange, as the forwarder would.
    pub async fn publish(&self, payload: &[u8]) {
        self.namespace.publish(payload).await
    }

    /// The value of a metric series of the aggregator, 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        analytics_testkit::metric(&self.http, &self.aggregator_ops_url, series).await
    }

    pub async fn stop(self) {
        self.running.stop().await
    }
}
