//! What every service needs to be operated: structured logs, a Prometheus
//! registry served on `/metrics`, `/healthz` and `/readyz`, and the shutdown
//! signal that starts a graceful stop.

mod backoff;
mod liveness;
mod logging;
mod ops;
mod rate_limit;
mod readiness;
mod shutdown;

pub use backoff::Backoff;
pub use liveness::{Liveness, Progress};
pub use logging::init_tracing;
pub use ops::{Ops, ops_routes, run_http_until_stopped, serve_ops};
pub use rate_limit::{RateLimiter, retry_after_seconds};
pub use readiness::{Check, Readiness};
pub use shutdown::{Shutdown, shutdown_on_signal};

/// Registers a collector, turning the registry's duplicate-name error (a
/// programming mistake) into a panic at start-up rather than a silent gap.
pub fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &prometheus::Registry, collector: C) -> C {
    registry.register(Box::new(collector.clone())).expect("metric names are unique per registry");
    collector
}
