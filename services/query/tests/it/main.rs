//! The query service on its own against real Postgres and Redis: who may read
//! what. Answers over counted data are tested with the other services in
//! `tests/e2e`.

mod auth;
mod openapi;
mod snapshots;

use analytics_testkit::{InProcess, Namespace, PANEL_ORIGIN, TEST_ADMIN_TOKEN, any_port};
use secrecy::SecretString;

/// Query in this process on free ports, in a namespace of its own with one site.
pub struct TestQuery {
    pub namespace: Namespace,
    pub query_url: String,
    pub query_ops_url: String,
    pub site_id: String,
    pub token: String,
    pub http: reqwest::Client,
    running: InProcess,
}

impl TestQuery {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// With `adjust` applied to the test settings.
    pub async fn start_with(adjust: impl FnOnce(&mut analytics_query::Settings)) -> Self {
        let namespace = Namespace::create().await;
        let (site_id, token) = namespace.add_site(&format!("{}.example", namespace.name), "UTC").await;
        let mut settings: analytics_query::Settings =
            analytics_testkit::settings(analytics_query::Settings::DEFAULTS, &[]);
        settings.http = any_port();
        settings.ops = any_port();
        settings.postgres = settings.postgres.on_database_of(&namespace.postgres);
        settings.redis = namespace.redis.clone();
        settings.query.admin_token = SecretString::from(TEST_ADMIN_TOKEN);
        settings.query.cache_live_seconds = 0;
        settings.query.cors_origins = PANEL_ORIGIN.to_owned();
        adjust(&mut settings);
        let app = analytics_query::Application::build(settings).await.expect("query builds");
        let query_url = format!("http://127.0.0.1:{}", app.port());
        let query_ops_url = format!("http://127.0.0.1:{}", app.ops_port());
        let mut running = InProcess::new();
        running.spawn(|stop| app.run_until_stopped(stop));
        Self { namespace, query_url, query_ops_url, site_id, token, http: analytics_testkit::browser(), running }
    }

    pub async fn stop(self) {
        self.running.stop().await
    }
}
