//! Test support below the services (it knows none of them): the private
//! Redis, RabbitMQ and Postgres (started once per test run), a namespace per
//! test (its own database, Redis key prefix and AMQP names, so tests run in
//! parallel on shared servers), what running a service in-process or as a
//! child process takes, and polling with a deadline instead of sleeps. Each
//! service's own tests start that service with it; `tests/e2e` starts them all.

mod namespace;
mod process;
mod relay;
mod service;
mod stores;
mod wait;

pub use namespace::Namespace;
pub use process::{ServiceProcess, free_port};
pub use relay::Relay;
pub use service::{
    BROWSER_USER_AGENT, InProcess, PANEL_ORIGIN, TEST_ADMIN_TOKEN, TEST_INGEST_KEY, any_port, browser, metric,
    metric_sum, pageviews, rate_limits_off, settings,
};
pub use stores::{FaultStores, Stores, TlsStores, repo_root, stores};
pub use wait::{eventually, within};

/// Path of a workspace binary built next to the running test (run `cargo build
/// --bins` first; `make test` does).
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    exe.parent().and_then(|deps| deps.parent()).expect("target layout").join(name)
}

/// The uap-core regexes the aggregator loads (fetched by `make test`).
pub fn ua_regexes() -> std::path::PathBuf {
    repo_root().join(".local/data/regexes.yaml")
}

/// The memory limit of `service`'s container in the Kubernetes manifests
/// (`k8s/base/<service>.yaml`), in bytes: what a test holds a process to.
pub fn manifest_memory_limit(service: &str) -> u64 {
    let path = repo_root().join(format!("k8s/base/{service}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let line = text.lines().find(|l| l.trim_start().starts_with("limits:")).expect("a limits line");
    let memory = line.split("memory:").nth(1).expect("a memory limit").trim().trim_end_matches('}').trim();
    let mib: u64 = memory.strip_suffix("Mi").expect("a limit in Mi").parse().expect("a number");
    mib * 1024 * 1024
}

/// The ip-location-db country database ingest reads (fetched by `make test`).
pub fn geoip_database() -> std::path::PathBuf {
    repo_root().join(".local/data/country.mmdb")
}
