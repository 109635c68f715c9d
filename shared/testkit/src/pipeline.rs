use analytics_config::HttpSettings;
use analytics_telemetry::Shutdown;
use secrecy::SecretString;

use crate::namespace::Namespace;

/// The ingest key the in-process ingest accepts for server-side events.
pub const TEST_INGEST_KEY: &str = "test-ingest-key";

/// The whole pipeline in this process, in its own namespace, with one site.
pub struct Pipeline {
    pub namespace: Namespace,
    pub ingest_url: String,
    pub query_url: String,
    pub forwarder_ops_url: String,
    pub aggregator_ops_url: String,
    pub site_id: String,
    pub token: String,
    pub ingest_key: String,
    pub http: reqwest::Client,
    shutdown: Shutdown,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

fn any_port() -> HttpSettings {
    HttpSettings {
        host: "127.0.0.1".into(),
        port: 0,
    }
}

fn defaults<T: serde::de::DeserializeOwned>(toml: &str) -> T {
    analytics_config::from_defaults(toml).expect("built-in defaults parse")
}

impl Pipeline {
    /// Starts ingest, forwarder, aggregator and query on free ports and
    /// creates a site in `timezone`.
    pub async fn start(timezone: &str) -> Self {
        let namespace = Namespace::create().await;
        let client = namespace.db().await;
        let (site, token) = analytics_store::sites::add_site(
            &client,
            &format!("{}.example", namespace.name),
            timezone,
        )
        .await
        .expect("creating the test site");
        let shutdown = Shutdown::new();
        let mut tasks = Vec::new();

        let mut ingest: analytics_ingest::Settings = defaults(analytics_ingest::Settings::DEFAULTS);
        ingest.http = any_port();
        ingest.redis = namespace.redis.clone();
        ingest.postgres = namespace.postgres.clone();
        ingest.ingest.ingest_key = SecretString::from(TEST_INGEST_KEY);
        let ingest = analytics_ingest::Application::build(ingest)
            .await
            .expect("ingest builds");
        let ingest_url = format!("http://127.0.0.1:{}", ingest.port());
        tasks.push(tokio::spawn(ingest.run_until_stopped(shutdown.clone())));

        let mut forwarder: analytics_forwarder::Settings =
            defaults(analytics_forwarder::Settings::DEFAULTS);
        forwarder.http = any_port();
        forwarder.redis = namespace.redis.clone();
        forwarder.amqp = namespace.amqp.clone();
        forwarder.forwarder.instance_id = format!("{}-forwarder", namespace.name);
        forwarder.forwarder.depth_interval_ms = 200;
        let forwarder = analytics_forwarder::Application::build(forwarder)
            .await
            .expect("forwarder builds");
        let forwarder_ops_url = format!("http://127.0.0.1:{}", forwarder.port());
        tasks.push(tokio::spawn(forwarder.run_until_stopped(shutdown.clone())));

        let mut aggregator: analytics_aggregator::Settings =
            defaults(analytics_aggregator::Settings::DEFAULTS);
        aggregator.http = any_port();
        aggregator.amqp = namespace.amqp.clone();
        aggregator.postgres = namespace.postgres.clone();
        let aggregator = analytics_aggregator::Application::build(aggregator)
            .await
            .expect("aggregator builds");
        let aggregator_ops_url = format!("http://127.0.0.1:{}", aggregator.port());
        tasks.push(tokio::spawn(aggregator.run_until_stopped(shutdown.clone())));

        let mut query: analytics_query::Settings = defaults(analytics_query::Settings::DEFAULTS);
        query.http = any_port();
        query.postgres = namespace.postgres.clone();
        let query = analytics_query::Application::build(query)
            .await
            .expect("query builds");
        let query_url = format!("http://127.0.0.1:{}", query.port());
        tasks.push(tokio::spawn(query.run_until_stopped(shutdown.clone())));

        Self {
            namespace,
            ingest_url,
            query_url,
            forwarder_ops_url,
            aggregator_ops_url,
            site_id: site.id.to_string(),
            token,
            ingest_key: TEST_INGEST_KEY.to_owned(),
            http: reqwest::Client::new(),
            shutdown,
            tasks,
        }
    }

    /// `POST /v1/events` with `events`, server-side (with the ingest key) or not.
    pub async fn send(&self, events: serde_json::Value, server_side: bool) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/v1/events", self.ingest_url))
            .json(&events);
        if server_side {
            request = request.header("X-Ingest-Key", &self.ingest_key);
        }
        request.send().await.expect("ingest reachable")
    }

    /// The overview JSON for this pipeline's site, with its token.
    pub async fn overview(&self) -> serde_json::Value {
        let response = self
            .http
            .get(format!(
                "{}/api/analytics/overview/?site={}",
                self.query_url, self.site_id
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("query reachable");
        assert!(
            response.status().is_success(),
            "overview answered {}",
            response.status()
        );
        response.json().await.expect("overview JSON")
    }

    /// The value of a metric series (`name{labels}` exactly as exposed), 0 if absent.
    pub async fn metric(&self, ops_url: &str, series: &str) -> f64 {
        let text = self
            .http
            .get(format!("{ops_url}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .filter_map(|line| line.rsplit_once(' '))
            .find(|(name, _)| *name == series)
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0.0)
    }

    /// Stops every service gracefully and checks each exited cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            task.await
                .expect("service task")
                .expect("service stopped cleanly");
        }
    }
}
