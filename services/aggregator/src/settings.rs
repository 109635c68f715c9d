use std::path::PathBuf;

use analytics_config::{AmqpSettings, HttpSettings, PostgresSettings, ShutdownSettings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub amqp: AmqpSettings,
    pub postgres: PostgresSettings,
    pub shutdown: ShutdownSettings,
    pub aggregator: AggregatorSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AggregatorSettings {
    pub prefetch: u16,
    pub max_group: usize,
    pub gather_ms: u64,
    pub max_message_bytes: usize,
    pub stall_seconds: u64,
    pub site_refresh_seconds: u64,
    pub ua_regexes: PathBuf,
    pub ua_cache_size: usize,
    pub partition_days_ahead: u64,
    pub retention_days: u64,
    pub batch_id_retention_days: i32,
    pub maintenance_interval_seconds: u64,
    pub sessions: bool,
    pub max_values_per_day: i64,
    pub keep_events: bool,
    pub raw_retention_days: u64,
}

impl AggregatorSettings {
    /// Days the events are kept, when they are.
    pub fn events_days(&self) -> Option<u64> {
        self.keep_events.then_some(self.raw_retention_days)
    }
}

impl Settings {
    pub const DEFAULTS: &'static str = include_str!("defaults.toml");

    pub fn load() -> Result<Self, analytics_config::ConfigError> {
        analytics_config::load("aggregator", Self::DEFAULTS)
    }
}
