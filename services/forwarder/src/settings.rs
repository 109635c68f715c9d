use analytics_config::{AmqpSettings, HttpSettings, RedisSettings, ShutdownSettings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub redis: RedisSettings,
    pub amqp: AmqpSettings,
    pub shutdown: ShutdownSettings,
    pub forwarder: ForwarderSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ForwarderSettings {
    pub instance_id: String,
    pub batch_size: usize,
    pub max_message_bytes: usize,
    pub stall_seconds: u64,
    pub linger_ms: u64,
    pub max_in_flight: usize,
    pub confirm_timeout_ms: u64,
    pub depth_interval_ms: u64,
    pub heartbeat_ttl_ms: u64,
}

impl Settings {
    pub const DEFAULTS: &'static str = include_str!("defaults.toml");

    pub fn load() -> Result<Self, analytics_config::ConfigError> {
        analytics_config::load("forwarder", Self::DEFAULTS)
    }
}

impl ForwarderSettings {
    /// The configured id, else the host name, else a random one.
    pub fn resolved_instance_id(&self) -> String {
        if !self.instance_id.is_empty() {
            return self.instance_id.clone();
        }
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    }
}
