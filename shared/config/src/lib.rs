//! Layered settings shared by every service.
//!
//! Each service describes its settings as a typed struct made of the sections
//! below and calls [`load`] with its built-in defaults (a TOML string compiled
//! into the binary). Later layers override earlier ones:
//!
//! 1. built-in defaults,
//! 2. `config/<service>.toml` (the directory can be moved with `ANALYTICS_CONFIG_DIR`),
//! 3. environment variables `ANALYTICS__SECTION__KEY`, e.g. `ANALYTICS__REDIS__URL`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use config::ConfigError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Loads `T` for `service` from the three layers described in the crate docs.
pub fn load<T: DeserializeOwned>(service: &str, defaults_toml: &str) -> Result<T, ConfigError> {
    let dir = std::env::var_os("ANALYTICS_CONFIG_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("config"));
    load_layers(service, defaults_toml, &dir, None)
}

/// Only the built-in defaults: no file, no environment. Tests start from this
/// and set what they need, so the machine's environment cannot leak in.
pub fn from_defaults<T: DeserializeOwned>(defaults_toml: &str) -> Result<T, ConfigError> {
    from_defaults_with(defaults_toml, &[])
}

/// The built-in defaults with `overrides` on top, given as environment
/// variables would be (`ANALYTICS__SECTION__KEY`, value) but read from the
/// list only: how a test sets what it needs, the same way for a service in
/// its process and one it starts as a child process.
pub fn from_defaults_with<T: DeserializeOwned>(
    defaults_toml: &str,
    overrides: &[(String, String)],
) -> Result<T, ConfigError> {
    let environment: HashMap<String, String> = overrides.iter().cloned().collect();
    config::Config::builder()
        .add_source(config::File::from_str(defaults_toml, config::FileFormat::Toml))
        .add_source(environment_source(Some(environment)))
        .build()?
        .try_deserialize()
}

/// `ANALYTICS__SECTION__KEY` variables, from the process environment or `vars`.
fn environment_source(vars: Option<HashMap<String, String>>) -> config::Environment {
    config::Environment::with_prefix("ANALYTICS").prefix_separator("__").separator("__").try_parsing(true).source(vars)
}

/// [`load`] with the config directory and (for tests) the environment given.
fn load_layers<T: DeserializeOwned>(
    service: &str,
    defaults_toml: &str,
    dir: &Path,
    environment: Option<HashMap<String, String>>,
) -> Result<T, ConfigError> {
    let file = dir.join(format!("{service}.toml"));
    config::Config::builder()
        .add_source(config::File::from_str(defaults_toml, config::FileFormat::Toml))
        .add_source(config::File::from(file).required(false))
        .add_source(environment_source(environment))
        .build()?
        .try_deserialize()
}

/// Where a service listens for HTTP (its API, or only its ops endpoints).
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    /// 0 picks a free port; the bound port is read back after binding.
    pub port: u16,
}

impl HttpSettings {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The Redis that holds the event queue (and, later, salts and caches).
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: SecretString,
    /// Prepended to every key, so several deployments or tests can share one Redis.
    pub key_prefix: String,
}

impl RedisSettings {
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }

    /// The list ingest pushes to and the forwarder claims from.
    pub fn queue_key(&self) -> String {
        self.key(QUEUE_KEY)
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.key_prefix)
    }

    /// The forwarder's keys, named here because tests and dashboards read
    /// them too. The set of batch ids a forwarder instance has claimed and
    /// not yet seen confirmed.
    pub fn inflight_key(&self, instance: &str) -> String {
        self.key(&format!("inflight:{instance}"))
    }

    /// The events a forwarder instance is moving from the queue into a batch.
    pub fn claiming_key(&self, instance: &str) -> String {
        self.key(&format!("claiming:{instance}"))
    }

    /// The events of one claimed batch.
    pub fn batch_key(&self, batch_id: &str) -> String {
        self.key(&format!("batch:{batch_id}"))
    }

    /// The set of forwarder instances that ever claimed a batch.
    pub fn forwarders_key(&self) -> String {
        self.key("forwarders")
    }
}

/// Name of the event list below the key prefix (`analytics:queue` by default).
pub const QUEUE_KEY: &str = "queue";

/// The RabbitMQ broker between forwarder and aggregator.
#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    pub url: SecretString,
    /// Exchange and queue names start with this (`analytics.events`, ...), so a
    /// test can have its own topology on a shared broker.
    pub namespace: String,
    /// Most messages the dead-letter queue keeps (the oldest go first).
    #[serde(default = "default_dead_letter_limit")]
    pub dead_letter_limit: i64,
    /// How long the broker may take to answer a connect, a declare or a
    /// question about a queue before the connection is given up and made
    /// anew: a broker that accepts connections but never answers (booting,
    /// wedged, behind a frozen network path) must not hold a service forever.
    pub reply_timeout_ms: u64,
}

fn default_dead_letter_limit() -> i64 {
    100_000
}

impl AmqpSettings {
    pub const DEFAULT_REPLY_TIMEOUT_MS: u64 = 20_000;

    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }
    /// These limits (dead letters, reply timeout) on `other`'s broker and
    /// names: a test's topology for a service's settings.
    pub fn on_broker_of(&self, other: &AmqpSettings) -> AmqpSettings {
        AmqpSettings { url: other.url.clone(), namespace: other.namespace.clone(), ..self.clone() }
    }

    pub fn reply_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.reply_timeout_ms.max(1))
    }
    pub fn exchange(&self) -> String {
        format!("{}.events", self.namespace)
    }
    pub fn queue(&self) -> String {
        format!("{}.events.aggregate", self.namespace)
    }
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.events.dlx", self.namespace)
    }
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.events.dead", self.namespace)
    }
}

/// The Postgres that holds sites and rollups.
#[derive(Debug, Clone, Deserialize)]
pub struct PostgresSettings {
    pub url: SecretString,
    pub pool_size: usize,
    /// A statement running longer is cancelled by Postgres (0: no limit).
    #[serde(default)]
    pub statement_timeout_ms: u64,
    /// The planner's cost of reading a page out of order, for this service's
    /// sessions (0: the server's own). Postgres' default of 4 is a spinning
    /// disk's: on an SSD it scans a rollup table whole rather than descend its
    /// index once the table has spare room from updates.
    #[serde(default)]
    pub random_page_cost: f64,
}

impl PostgresSettings {
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }

    /// These session settings (timeout, planner cost) on `other`'s database,
    /// with `other`'s pool size: a test's database for a service's settings.
    pub fn on_database_of(&self, other: &PostgresSettings) -> PostgresSettings {
        PostgresSettings { url: other.url.clone(), pool_size: other.pool_size, ..self.clone() }
    }
}

/// How long a service may take to finish in-flight work after SIGTERM.
#[derive(Debug, Clone, Deserialize)]
pub struct ShutdownSettings {
    pub grace_seconds: u64,
}

impl ShutdownSettings {
    pub fn grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.grace_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        http: HttpSettings,
        redis: RedisSettings,
    }

    const DEFAULTS: &str = r#"
        [http]
        host = "127.0.0.1"
        port = 8081
        [redis]
        url = "redis://127.0.0.1:6379"
        key_prefix = "analytics:"
    "#;

    #[test]
    fn file_overrides_defaults_and_environment_overrides_file() {
        let dir = std::env::temp_dir().join(format!("analytics-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("sample.toml"), "[http]\nport = 9000\nhost = \"0.0.0.0\"\n").expect("write file");
        let environment = HashMap::from([
            ("ANALYTICS__HTTP__PORT".to_owned(), "9100".to_owned()),
            ("ANALYTICS__REDIS__KEY_PREFIX".to_owned(), "t1:".to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ]);
        let s: Sample = load_layers("sample", DEFAULTS, &dir, Some(environment)).expect("loads");
        assert_eq!(s.http.port, 9100, "environment wins over the file");
        assert_eq!(s.http.host, "0.0.0.0", "file wins over the defaults");
        assert_eq!(s.redis.url(), "redis://127.0.0.1:6379", "defaults fill the rest");
        assert_eq!(s.redis.queue_key(), "t1:queue");
        assert!(!format!("{:?}", s.redis).contains("6379"), "URLs never print");
        std::fs::remove_dir_all(&dir).ok();
    }
}
