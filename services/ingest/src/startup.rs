//! Builds the ingest app from settings; `main` and the tests share this path.

use std::time::Duration;

use actix_web::{App, HttpServer, web};
use analytics_store::sites::SiteDirectory;
use analytics_telemetry::{Ops, Shutdown};
use anyhow::Context;

use crate::client::ClientAddress;
use crate::geo::Countries;
use crate::identity::Identity;
use crate::metrics::IngestMetrics;
use crate::queue::EventQueue;
use crate::settings::{IngestSettings, Settings};

/// The request rates each kind of caller may use (see `routes::read_request`).
pub struct Limits {
    pub per_address: analytics_telemetry::RateLimiter<std::net::IpAddr>,
    pub keyed: analytics_telemetry::RateLimiter<()>,
}

/// Everything a request handler needs, shared by all workers.
pub struct AppState {
    pub limits: Limits,
    pub settings: IngestSettings,
    pub queue: EventQueue,
    pub identity: Identity,
    pub sites: SiteDirectory,
    pub metrics: IngestMetrics,
    pub client_address: ClientAddress,
    pub countries: Countries,
}

pub struct Application {
    server: actix_web::dev::Server,
    port: u16,
    ops_server: actix_web::dev::Server,
    ops_port: u16,
    ops: Ops,
    sites: SiteDirectory,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(settings.ingest.redis_timeout_ms);
        let client_address = ClientAddress::new(&settings.ingest.trusted_proxies)?;
        let countries = match settings.ingest.geoip_database.as_str() {
            "" => Countries::none(),
            path => Countries::open(std::path::Path::new(path))?,
        };
        // The connection waits five deadlines for a reply; a write gives up on
        // its own after one (the queue's timeout), and can then still ask, on
        // this same connection, whether it was stored (see `queue`).
        let redis = analytics_store::redis_manager(settings.redis.url(), timeout * 5).await?;
        let pool = analytics_store::pg_pool(&settings.postgres)?;
        let sites = SiteDirectory::new(pool.clone(), &settings.postgres);
        if let Err(error) = sites.refresh().await {
            // Not fatal: the directory retries on the first lookup and in the background.
            tracing::warn!(error = format!("{error:#}"), "initial site load failed");
        }

        let ops = Ops::new();
        let metrics = IngestMetrics::new(&ops.registry);
        let probed = redis.clone();
        ops.readiness.add_probe("redis", move || analytics_store::redis_probe(probed.clone()));
        // Postgres only refreshes the sites: once they were read, ingest stays
        // ready without it (degraded), serving the sites it knows.
        let directory = sites.clone();
        ops.readiness.add_check("postgres", move || directory.clone().readiness());

        let limits = Limits {
            per_address: analytics_telemetry::RateLimiter::new(
                settings.ingest.rate_limit_per_second,
                settings.ingest.rate_limit_burst,
            ),
            keyed: analytics_telemetry::RateLimiter::new(
                settings.ingest.keyed_rate_limit_per_second,
                settings.ingest.keyed_rate_limit_burst,
            ),
        };
        let state = web::Data::new(AppState {
            limits,
            queue: EventQueue::new(
                redis.clone(),
                &settings.redis,
                settings.ingest.queue_high_water,
                timeout,
                settings.ingest.max_batch_events,
                settings.ingest.max_pending_bytes,
                metrics.push_size.clone(),
            ),
            identity: Identity::new(redis, settings.redis.key_prefix.clone()),
            sites: sites.clone(),
            metrics,
            client_address,
            countries,
            settings: settings.ingest.clone(),
        });
        let server = HttpServer::new({
            move || {
                use crate::routes::{native, plausible, preflight, script, umami};
                let options = || web::method(actix_web::http::Method::OPTIONS).to(preflight);
                App::new()
                    .app_data(state.clone())
                    // Intake is public: trackers post from every origin.
                    .wrap(actix_web::middleware::DefaultHeaders::new().add(("Access-Control-Allow-Origin", "*")))
                    .route("/v1/events", web::post().to(native::post_events))
                    .route("/v1/events", options())
                    .route("/api/event", web::post().to(plausible::post_event))
                    .route("/api/event", options())
                    .route("/api/send", web::post().to(umami::send))
                    .route("/api/send", options())
                    .route("/js/script.js", web::get().to(script::script))
            }
        })
        .disable_signals()
        // Slow clients are cut off rather than allowed to pin connections.
        .client_request_timeout(Duration::from_millis(settings.ingest.request_head_timeout_ms))
        .max_connections(settings.ingest.max_connections)
        .shutdown_timeout(settings.shutdown.grace_seconds)
        .bind(settings.http.address())
        .with_context(|| format!("binding {}", settings.http.address()))?;
        let port = server.addrs().first().map(|a| a.port()).context("no bound address")?;
        // /metrics and /readyz on a port of their own, which only the cluster reaches.
        let (ops_server, ops_port) = analytics_telemetry::serve_ops(&settings.ops.address(), ops.clone())
            .with_context(|| format!("binding {}", settings.ops.address()))?;
        tracing::info!(port, "ingest listening");
        Ok(Self { server: server.run(), port, ops_server, ops_port, ops, sites, settings })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Port of the ops endpoints (`/metrics`, `/healthz`, `/readyz`).
    pub fn ops_port(&self) -> u16 {
        self.ops_port
    }

    /// Serves until `shutdown` is cancelled, then stops gracefully: `/readyz`
    /// turns 503, new connections are refused, in-flight requests finish
    /// within the grace period.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let refresher =
            self.sites.spawn_watcher(Duration::from_secs(self.settings.ingest.site_refresh_seconds), shutdown.clone());
        let result =
            analytics_telemetry::run_http_until_stopped(self.server, self.ops_server, &self.ops.readiness, shutdown)
                .await;
        refresher.abort();
        tracing::info!("ingest stopped");
        result
    }
}
