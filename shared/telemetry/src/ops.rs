use actix_web::{HttpResponse, web};
use prometheus::{Encoder, Registry, TextEncoder};

use crate::{Liveness, Readiness};

/// State behind the ops endpoints. Each service instance owns its own
/// registry, so tests running several instances in one process never mix metrics.
#[derive(Clone)]
pub struct Ops {
    pub registry: Registry,
    pub readiness: Readiness,
    pub liveness: Liveness,
}

impl Ops {
    pub fn new() -> Self {
        Self { registry: Registry::new(), readiness: Readiness::default(), liveness: Liveness::default() }
    }
}

impl Default for Ops {
    fn default() -> Self {
        Self::new()
    }
}

/// `/metrics`, `/healthz` and `/readyz`, for mounting next to a service's own routes.
pub fn ops_routes(ops: Ops) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(ops))
            .route("/metrics", web::get().to(metrics))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz));
    }
}

/// A server with only the ops endpoints, for services without an HTTP API of
/// their own (forwarder, aggregator). Returns the server and its bound port.
pub fn serve_ops(address: &str, ops: Ops) -> std::io::Result<(actix_web::dev::Server, u16)> {
    let server = actix_web::HttpServer::new(move || actix_web::App::new().configure(ops_routes(ops.clone())))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(address)?;
    let port = server.addrs().first().map(|a| a.port()).unwrap_or_default();
    Ok((server.run(), port))
}

async fn metrics(ops: web::Data<Ops>) -> HttpResponse {
    let mut body = Vec::new();
    match TextEncoder::new().encode(&ops.registry.gather(), &mut body) {
        Ok(()) => HttpResponse::Ok().content_type(prometheus::TEXT_FORMAT).body(body),
        Err(error) => HttpResponse::InternalServerError().body(error.to_string()),
    }
}

/// 200 while the process runs and no watched loop is stalled.
async fn healthz(ops: web::Data<Ops>) -> HttpResponse {
    let (alive, report) = ops.liveness.check();
    if alive { HttpResponse::Ok().json(report) } else { HttpResponse::ServiceUnavailable().json(report) }
}

async fn readyz(ops: web::Data<Ops>) -> HttpResponse {
    let (ready, report) = ops.readiness.check().await;
    if ready { HttpResponse::Ok().json(report) } else { HttpResponse::ServiceUnavailable().json(report) }
}

/// Runs a public API server and its internal ops server until `shutdown`,
/// then stops them gracefully: `/readyz` turns 503 first, the API refuses new
/// connections and gives requests in progress its shutdown timeout, and the
/// ops server stops last (so `/metrics` shows the end of the stop).
pub async fn run_http_until_stopped(
    server: actix_web::dev::Server,
    ops_server: actix_web::dev::Server,
    readiness: &crate::Readiness,
    shutdown: crate::Shutdown,
) -> anyhow::Result<()> {
    let (handle, ops_handle) = (server.handle(), ops_server.handle());
    let (task, ops_task) = (tokio::spawn(server), tokio::spawn(ops_server));
    shutdown.cancelled().await;
    readiness.begin_shutdown();
    handle.stop(true).await;
    ops_handle.stop(true).await;
    task.await??;
    ops_task.await??;
    Ok(())
}
