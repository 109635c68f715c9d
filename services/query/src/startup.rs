//! Builds the query service from settings; `main` and the tests share this path.

use std::time::{Duration, Instant};

use actix_web::dev::Service;
use actix_web::{App, HttpServer, web};
use analytics_store::PgPool;
use analytics_store::sites::SiteDirectory;
use analytics_telemetry::{Ops, Shutdown, register};
use anyhow::Context;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, exponential_buckets};

use crate::cache::Cache;
use crate::routes;
use crate::settings::Settings;

pub struct AppState {
    /// Requests per token (see `SiteRequest::authorize`).
    pub limiter: analytics_telemetry::RateLimiter<[u8; 32]>,
    /// `analytics_query_rate_limited_requests_total`
    pub rate_limited: prometheus::IntCounter,
    pub pool: PgPool,
    pub sites: SiteDirectory,
    pub cache: Cache,
    pub admin_token: Option<String>,
    pub clock: Clock,
}

/// What day it is for a site: the real date in its time zone, or a fixed
/// date, so a benchmark can ask on the worst and the best day of the month
/// whatever today is. Not a setting: only [`Application::build_with_clock`] sets it.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(chrono::NaiveDate),
}

impl Clock {
    pub fn today(self, zone: chrono_tz::Tz) -> chrono::NaiveDate {
        match self {
            Clock::System => chrono::Utc::now().with_timezone(&zone).date_naive(),
            Clock::Fixed(day) => day,
        }
    }
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
        Self::build_with_clock(settings, Clock::System).await
    }

    pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let pool = analytics_store::pg_pool(&settings.postgres)?;
        let cache_url = settings.query.cache_redis_url().unwrap_or(settings.redis.url());
        let redis = analytics_store::redis_manager(cache_url, Duration::from_millis(500)).await?;
        let sites = SiteDirectory::new(pool.clone(), &settings.postgres);
        if let Err(error) = sites.refresh().await {
            tracing::warn!(error = format!("{error:#}"), "initial site load failed");
        }
        let ops = Ops::new();
        // Without Postgres the service still answers from its cache, for the
        // sites it has read: degraded, not out of the load balancer.
        let directory = sites.clone();
        ops.readiness.add_check("postgres", move || directory.clone().readiness());
        let request_duration = register(
            &ops.registry,
            HistogramVec::new(
                HistogramOpts::new("analytics_query_request_duration_seconds", "Time to answer a dashboard request")
                    .buckets(exponential_buckets(0.0002, 2.0, 16).expect("valid buckets")),
                &["endpoint"],
            )
            .expect("valid metric"),
        );
        let cache_lookups = register(
            &ops.registry,
            IntCounterVec::new(Opts::new("analytics_query_cache_total", "Response cache lookups"), &["outcome"])
                .expect("valid metric"),
        );
        for outcome in ["hit", "miss", "error"] {
            cache_lookups.with_label_values(&[outcome]);
        }
        let cache = Cache::new(
            redis,
            &settings.redis,
            Duration::from_secs(settings.query.cache_live_seconds),
            Duration::from_secs(settings.query.cache_closed_seconds),
            cache_lookups,
        );
        let rate_limited = register(
            &ops.registry,
            prometheus::IntCounter::new(
                "analytics_query_rate_limited_requests_total",
                "Requests refused with 429: the token was over its rate",
            )
            .expect("valid metric"),
        );
        let state = web::Data::new(AppState {
            limiter: analytics_telemetry::RateLimiter::new(
                settings.query.rate_limit_per_second,
                settings.query.rate_limit_burst,
            ),
            rate_limited,
            pool,
            sites: sites.clone(),
            cache,
            admin_token: settings.query.admin_token(),
            clock,
        });
        let origins = settings.query.cors_origins();
        let server = HttpServer::new({
            move || {
                let request_duration = request_duration.clone();
                let cors = origins.iter().fold(
                    actix_cors::Cors::default()
                        .allowed_methods(["GET", "POST"])
                        .allowed_headers(["Authorization", "Content-Type"])
                        .max_age(3600),
                    |cors, origin| cors.allowed_origin(origin),
                );
                App::new()
                    .wrap(cors)
                    .wrap_fn(move |request, service| {
                        // Route patterns only, so the label set stays bounded.
                        let endpoint = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
                        let started = Instant::now();
                        let response = service.call(request);
                        let request_duration = request_duration.clone();
                        async move {
                            let response = response.await;
                            request_duration.with_label_values(&[&endpoint]).observe(started.elapsed().as_secs_f64());
                            response
                        }
                    })
                    .app_data(state.clone())
                    .configure(routes::table::configure)
            }
        })
        .disable_signals()
        .shutdown_timeout(settings.shutdown.grace_seconds)
        .bind(settings.http.address())
        .with_context(|| format!("binding {}", settings.http.address()))?;
        let port = server.addrs().first().map(|a| a.port()).context("no bound address")?;
        // /metrics and /readyz on a port of their own, which only the cluster reaches.
        let (ops_server, ops_port) = analytics_telemetry::serve_ops(&settings.ops.address(), ops.clone())
            .with_context(|| format!("binding {}", settings.ops.address()))?;
        tracing::info!(port, "query listening");
        Ok(Self { server: server.run(), port, ops_server, ops_port, ops, sites, settings })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Port of the ops endpoints (`/metrics`, `/healthz`, `/readyz`).
    pub fn ops_port(&self) -> u16 {
        self.ops_port
    }

    /// Serves until `shutdown`, then stops gracefully like ingest does.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let refresher =
            self.sites.spawn_watcher(Duration::from_secs(self.settings.query.site_refresh_seconds), shutdown.clone());
        let result =
            analytics_telemetry::run_http_until_stopped(self.server, self.ops_server, &self.ops.readiness, shutdown)
                .await;
        refresher.abort();
        tracing::info!("query stopped");
        result
    }
}
