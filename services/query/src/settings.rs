use analytics_config::{HttpSettings, PostgresSettings, RedisSettings, ShutdownSettings};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    /// `/metrics`, `/healthz` and `/readyz`, apart from the public API.
    pub ops: HttpSettings,
    pub postgres: PostgresSettings,
    pub redis: RedisSettings,
    pub shutdown: ShutdownSettings,
    pub query: QuerySettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QuerySettings {
    pub admin_token: SecretString,
    pub cors_origins: String,
    pub cache_live_seconds: u64,
    pub cache_closed_seconds: u64,
    pub site_refresh_seconds: u64,
    pub cache_redis_url: SecretString,
    pub rate_limit_per_second: f64,
    pub rate_limit_burst: f64,
}

impl QuerySettings {
    pub fn admin_token(&self) -> Option<String> {
        Some(self.admin_token.expose_secret().to_owned()).filter(|t| !t.is_empty())
    }

    /// The response cache's Redis, when it is not `redis.url`.
    pub fn cache_redis_url(&self) -> Option<&str> {
        Some(self.cache_redis_url.expose_secret()).filter(|u| !u.is_empty())
    }

    pub fn cors_origins(&self) -> Vec<String> {
        self.cors_origins.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect()
    }
}

impl Settings {
    pub const DEFAULTS: &'static str = include_str!("defaults.toml");

    pub fn load() -> Result<Self, analytics_config::ConfigError> {
        analytics_config::load("query", Self::DEFAULTS)
    }
}
