use analytics_config::{HttpSettings, PostgresSettings, ShutdownSettings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub postgres: PostgresSettings,
    pub shutdown: ShutdownSettings,
    pub query: QuerySettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QuerySettings {
    pub site_refresh_seconds: u64,
}

impl Settings {
    pub const DEFAULTS: &'static str = include_str!("defaults.toml");

    pub fn load() -> Result<Self, analytics_config::ConfigError> {
        analytics_config::load("query", Self::DEFAULTS)
    }
}
