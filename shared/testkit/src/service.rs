//! What a test needs to run services in its own process, whichever they are:
//! settings from a service's built-in defaults and the test's overrides, free
//! ports, the credentials the test services are given, a handle that stops
//! them and checks each exited cleanly, and reading their `/metrics`.

use std::future::Future;

use analytics_config::HttpSettings;
use analytics_telemetry::Shutdown;

/// What the test client says it is: a desktop browser, so that its events
/// count (an empty or library user agent is dropped as a bot).
pub const BROWSER_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0";

/// The one browser origin the in-process query service allows (CORS).
pub const PANEL_ORIGIN: &str = "http://panel.test";

/// The admin token of the in-process query service.
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token";

/// The ingest key the in-process ingest accepts for server-side events.
pub const TEST_INGEST_KEY: &str = "test-ingest-key";

/// Listen on a free port of the loopback interface.
pub fn any_port() -> HttpSettings {
    HttpSettings { host: "127.0.0.1".into(), port: 0 }
}

/// A service's settings: its built-in defaults (`Settings::DEFAULTS`), then
/// [`rate_limits_off`], then the test's `overrides` as `ANALYTICS__SECTION__KEY` variables would give them.
pub fn settings<T: serde::de::DeserializeOwned>(defaults: &str, overrides: &[(String, String)]) -> T {
    let mut all = rate_limits_off();
    all.extend_from_slice(overrides);
    analytics_config::from_defaults_with(defaults, &all).expect("built-in defaults and overrides parse")
}

/// Every rate limit off, as `ANALYTICS__...` variables: every test client is
/// 127.0.0.1, so a test that wants a limit sets it itself.
pub fn rate_limits_off() -> Vec<(String, String)> {
    ["INGEST__RATE_LIMIT_PER_SECOND", "INGEST__KEYED_RATE_LIMIT_PER_SECOND", "QUERY__RATE_LIMIT_PER_SECOND"]
        .map(|name| (format!("ANALYTICS__{name}"), "0".to_owned()))
        .into()
}

/// An HTTP client that passes for a desktop browser.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().user_agent(BROWSER_USER_AGENT).build().expect("http client")
}

/// `POST /v1/events` body of `n` pageviews of `site` over seven pages.
pub fn pageviews(site: &str, n: usize) -> serde_json::Value {
    let events: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({ "site": site, "type": "pageview", "url": format!("https://shop.example/p/{}", i % 7) }))
        .collect();
    serde_json::json!({ "events": events })
}

/// Services running as tasks of this process, stopped together.
pub struct InProcess {
    shutdown: Shutdown,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Default for InProcess {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcess {
    pub fn new() -> Self {
        Self { shutdown: Shutdown::new(), tasks: Vec::new() }
    }

    /// Runs a service's `run_until_stopped(shutdown)` as a task.
    pub fn spawn<F>(&mut self, run: impl FnOnce(Shutdown) -> F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.tasks.push(tokio::spawn(run(self.shutdown.clone())));
    }

    /// Stops every service gracefully and checks each exited cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            task.await.expect("service task").expect("service stopped cleanly");
        }
    }
}

/// The value of a metric series (`name{labels}` exactly as exposed) at
/// `ops_url`, 0 if absent.
pub async fn metric(http: &reqwest::Client, ops_url: &str, series: &str) -> f64 {
    metrics_text(http, ops_url)
        .await
        .lines()
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(name, _)| *name == series)
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0.0)
}

/// The sum of every series of the metric `name` at `ops_url`, whatever their labels.
pub async fn metric_sum(http: &reqwest::Client, ops_url: &str, name: &str) -> f64 {
    let labelled = format!("{name}{{");
    metrics_text(http, ops_url)
        .await
        .lines()
        .filter(|line| line.starts_with(&labelled) || line.split_whitespace().next() == Some(name))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

async fn metrics_text(http: &reqwest::Client, ops_url: &str) -> String {
    http.get(format!("{ops_url}/metrics")).send().await.expect("metrics").text().await.expect("text")
}
