//! Builds the query service from settings; `main` and the tests share this path.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use analytics_store::PgPool;
use analytics_store::sites::SiteDirectory;
use analytics_telemetry::{Ops, Shutdown};
use anyhow::Context;

use crate::settings::Settings;

pub struct AppState {
    pub pool: PgPool,
    pub sites: SiteDirectory,
}

pub struct Application {
    server: actix_web::dev::Server,
    port: u16,
    ops: Ops,
    sites: SiteDirectory,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = analytics_store::pg_pool(&settings.postgres)?;
        let sites = SiteDirectory::new(pool.clone());
        if let Err(error) = sites.refresh().await {
            tracing::warn!(error = format!("{error:#}"), "initial site load failed");
        }
        let ops = Ops::new();
        ops.readiness.add_probe("postgres", {
            let pool = pool.clone();
            Arc::new(move || Box::pin(analytics_store::pg_probe(pool.clone())))
        });
        let state = web::Data::new(AppState {
            pool,
            sites: sites.clone(),
        });
        let server = HttpServer::new({
            let ops = ops.clone();
            move || {
                App::new()
                    .app_data(state.clone())
                    .configure(analytics_telemetry::ops_routes(ops.clone()))
                    .service(
                        web::resource(["/api/analytics/overview", "/api/analytics/overview/"])
                            .route(web::get().to(crate::routes::overview::overview)),
                    )
            }
        })
        .disable_signals()
        .shutdown_timeout(settings.shutdown.grace_seconds)
        .bind(settings.http.address())
        .with_context(|| format!("binding {}", settings.http.address()))?;
        let port = server
            .addrs()
            .first()
            .map(|a| a.port())
            .context("no bound address")?;
        tracing::info!(port, "query listening");
        Ok(Self {
            server: server.run(),
            port,
            ops,
            sites,
            settings,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown`, then stops gracefully like ingest does.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let refresher = self.sites.spawn_refresher(
            Duration::from_secs(self.settings.query.site_refresh_seconds),
            shutdown.clone(),
        );
        let result =
            analytics_telemetry::run_http_until_stopped(self.server, &self.ops.readiness, shutdown)
                .await;
        refresher.abort();
        tracing::info!("query stopped");
        result
    }
}
