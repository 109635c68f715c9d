//! Ingest on its own against real Redis and Postgres: what it answers and
//! what it leaves on the Redis list. The services together are tested in
//! `tests/e2e`.

mod queue;
mod refusals;

use analytics_testkit::{InProcess, Namespace, TEST_INGEST_KEY, any_port};
use secrecy::SecretString;

/// Ingest in this process on free ports, in a namespace of its own with one site.
pub struct TestIngest {
    pub namespace: Namespace,
    pub ingest_url: String,
    pub ingest_ops_url: String,
    pub site_id: String,
    pub http: reqwest::Client,
    running: InProcess,
}

impl TestIngest {
    pub async fn start() -> Self {
        let namespace = Namespace::create().await;
        let (site_id, _token) = namespace.add_site(&format!("{}.example", namespace.name), "UTC").await;
        let mut settings: analytics_ingest::Settings =
            analytics_testkit::settings(analytics_ingest::Settings::DEFAULTS, &[]);
        settings.http = any_port();
        settings.ops = any_port();
        settings.redis = namespace.redis.clone();
        settings.postgres = namespace.postgres.clone();
        settings.ingest.ingest_key = SecretString::from(TEST_INGEST_KEY);
        settings.ingest.geoip_database = analytics_testkit::geoip_database().display().to_string();
        let app = analytics_ingest::Application::build(settings).await.expect("ingest builds");
        let ingest_url = format!("http://127.0.0.1:{}", app.port());
        let ingest_ops_url = format!("http://127.0.0.1:{}", app.ops_port());
        let mut running = InProcess::new();
        running.spawn(|stop| app.run_until_stopped(stop));
        Self { namespace, ingest_url, ingest_ops_url, site_id, http: analytics_testkit::browser(), running }
    }

    /// `POST /v1/events` with `events`, server-side (with the ingest key) or not.
    pub async fn send(&self, events: serde_json::Value, server_side: bool) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/v1/events", self.ingest_url)).json(&events);
        if server_side {
            request = request.header("X-Ingest-Key", TEST_INGEST_KEY);
        }
        request.send().await.expect("ingest reachable")
    }

    /// The value of a metric series of ingest, 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        analytics_testkit::metric(&self.http, &self.ingest_ops_url, series).await
    }

    /// Every entry of the Redis list as stored, oldest first.
    pub async fn queued_bytes(&self) -> Vec<Vec<u8>> {
        let mut redis = self.namespace.redis().await;
        let mut raw: Vec<Vec<u8>> = redis::cmd("LRANGE")
            .arg(self.namespace.redis.queue_key())
            .arg(0)
            .arg(-1)
            .query_async(&mut redis)
            .await
            .expect("LRANGE");
        // LPUSH puts the newest first.
        raw.reverse();
        raw
    }

    /// Everything on the Redis list, oldest first, as the forwarder reads it.
    pub async fn queued(&self) -> Vec<analytics_events::Event> {
        use analytics_events::Message;
        let raw = self.queued_bytes().await;
        raw.iter().map(|bytes| analytics_events::Event::decode(bytes.as_slice()).expect("an event")).collect()
    }

    pub async fn stop(self) {
        self.running.stop().await
    }
}
