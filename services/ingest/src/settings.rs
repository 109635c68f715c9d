use analytics_config::{HttpSettings, PostgresSettings, RedisSettings, ShutdownSettings};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    /// `/metrics`, `/healthz` and `/readyz`, apart from the public API.
    pub ops: HttpSettings,
    pub redis: RedisSettings,
    pub postgres: PostgresSettings,
    pub shutdown: ShutdownSettings,
    pub ingest: IngestSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IngestSettings {
    pub max_body_bytes: usize,
    pub max_events_per_request: usize,
    pub queue_high_water: u64,
    pub redis_timeout_ms: u64,
    pub ingest_key: SecretString,
    pub site_refresh_seconds: u64,
    pub trusted_proxies: String,
    pub geoip_database: String,
    pub max_batch_events: usize,
    pub max_pending_bytes: usize,
    pub rate_limit_per_second: f64,
    pub rate_limit_burst: f64,
    pub keyed_rate_limit_per_second: f64,
    pub keyed_rate_limit_burst: f64,
    pub request_head_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub max_connections: usize,
}

impl IngestSettings {
    /// The configured server-side key, `None` when forwarding is disabled.
    pub fn ingest_key(&self) -> Option<&str> {
        Some(self.ingest_key.expose_secret()).filter(|k| !k.is_empty())
    }
}

impl Settings {
    pub const DEFAULTS: &'static str = include_str!("defaults.toml");

    pub fn load() -> Result<Self, analytics_config::ConfigError> {
        analytics_config::load("ingest", Self::DEFAULTS)
    }
}
