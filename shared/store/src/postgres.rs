use std::str::FromStr;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use analytics_config::PostgresSettings;

pub type PgPool = Pool;

/// A pool that connects lazily: a service starts (and reports not ready)
/// while Postgres is down, instead of crashing in a restart loop.
pub fn pg_pool(settings: &PostgresSettings) -> anyhow::Result<PgPool> {
    let mut config = tokio_postgres::Config::from_str(settings.url()).context("parsing the Postgres URL")?;
    if settings.statement_timeout_ms > 0 {
        // Appended to what the URL's `options` may already say.
        let options = format!(
            "{} -c statement_timeout={}",
            config.get_options().unwrap_or_default(),
            settings.statement_timeout_ms
        );
        config.options(options.trim());
    }
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .wait_timeout(Some(std::time::Duration::from_secs(5)))
        .create_timeout(Some(std::time::Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .context("building the Postgres pool")
}

/// One dedicated connection, for migrations and CLI commands.
pub async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.context("connecting to Postgres")?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "postgres connection closed");
        }
    });
    Ok(client)
}

/// Readiness check: a pooled connection answers `SELECT 1`.
pub async fn pg_probe(pool: PgPool) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| format!("postgres: {e}"))?;
    client.execute("SELECT 1", &[]).await.map_err(|e| format!("postgres: {e}"))?;
    Ok(())
}
