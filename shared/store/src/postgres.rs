use std::str::FromStr;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres_rustls::MakeRustlsConnect;

use analytics_config::PostgresSettings;

pub type PgPool = Pool;

/// A Postgres URL as tokio-postgres takes it, and the TLS it asks for.
///
/// TLS is used when the URL asks for it: `sslmode=require` (or `prefer`,
/// which then also uses it when the server offers it). Unlike libpq, the
/// server's certificate is always verified, against the Mozilla roots and,
/// when the URL names one with `sslrootcert=/path/ca.pem` (libpq's
/// parameter), that CA too, as a managed database's own CA usually must be:
/// encryption without knowing whom one talks to protects nothing. Without
/// `sslmode`, the connection is plain (libpq would try TLS unverified).
pub fn postgres_config(url: &str) -> anyhow::Result<(tokio_postgres::Config, MakeRustlsConnect)> {
    let (url, root_cert) = crate::tls::take_root_cert(url)?;
    let mut config = tokio_postgres::Config::from_str(&url).context("parsing the Postgres URL")?;
    if !url.contains("sslmode=") {
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
    }
    Ok((config, crate::tls::postgres_connector(root_cert.as_deref())?))
}

/// A pool that connects lazily: a service starts (and reports not ready)
/// while Postgres is down, instead of crashing in a restart loop.
pub fn pg_pool(settings: &PostgresSettings) -> anyhow::Result<PgPool> {
    let (mut config, tls) = postgres_config(settings.url())?;
    // Appended to what the URL's `options` may already say.
    let mut options = config.get_options().unwrap_or_default().to_owned();
    if settings.statement_timeout_ms > 0 {
        options.push_str(&format!(" -c statement_timeout={}", settings.statement_timeout_ms));
    }
    if settings.random_page_cost > 0.0 {
        options.push_str(&format!(" -c random_page_cost={}", settings.random_page_cost));
    }
    config.options(options.trim());
    let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(settings.pool_size)
        // The connection used last is handed out next: a service busy on one
        // connection at a time keeps using it, and the others stay small (a
        // client keeps a write buffer the size of the largest statement it
        // sent: with the aggregator's groups, megabytes per connection).
        .queue_mode(deadpool_postgres::QueueMode::Lifo)
        .wait_timeout(Some(std::time::Duration::from_secs(5)))
        .create_timeout(Some(std::time::Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .context("building the Postgres pool")
}

/// A second connection for work that can run beside a request's first one,
/// when that work is `worth` one and the pool has one free right now (idle,
/// or not yet opened); else `None`, and the work runs on the first after
/// all. Never waits for one in use: requests that each hold a connection and
/// wait for another would deadlock a busy pool.
pub async fn idle_connection(pool: &PgPool, worth: bool) -> Option<deadpool_postgres::Object> {
    if !worth {
        return None;
    }
    let no_wait = deadpool_postgres::Timeouts { wait: Some(std::time::Duration::ZERO), ..pool.timeouts() };
    pool.timeout_get(&no_wait).await.ok()
}

/// A pooled connection in one read-only snapshot, for all of an answer's
/// statements: what one statement reads (the values a segment's `~=`
/// filter may meet) holds for the next (their events), and an answer's
/// figures (totals, visits, sources) agree with each other however many
/// batches commit meanwhile. Read only, it conflicts with no writer;
/// dropped, it rolls back.
pub async fn snapshot(
    connection: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, tokio_postgres::Error> {
    let builder = connection.build_transaction().isolation_level(tokio_postgres::IsolationLevel::RepeatableRead);
    builder.read_only(true).start().await
}

/// A second pooled connection in the snapshot that `main` (in a
/// [`snapshot`]) reads, for work beside `main`'s that must see the same
/// rows; `None` without a `spare` (see [`idle_connection`]:
/// the pool is never waited on, though opening a connection may take up to
/// its create timeout), or when the spare cannot join (the work then runs
/// on `main` after all).
pub async fn snapshot_beside<'c>(
    spare: Option<&'c mut deadpool_postgres::Object>,
    main: &tokio_postgres::Client,
) -> Result<Option<deadpool_postgres::Transaction<'c>>, tokio_postgres::Error> {
    let Some(connection) = spare else { return Ok(None) };
    let id: String = main.query_one("SELECT pg_export_snapshot()", &[]).await?.get(0);
    // Postgres names snapshots in hex digits and dashes: nothing to escape.
    if !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        tracing::warn!(id, "an exported snapshot with an unexpected name");
        return Ok(None);
    }
    let joined = async {
        let beside = snapshot(connection).await?;
        beside.batch_execute(&format!("SET TRANSACTION SNAPSHOT '{id}'")).await?;
        Ok::<_, tokio_postgres::Error>(beside)
    };
    match joined.await {
        Ok(beside) => Ok(Some(beside)),
        Err(error) => {
            tracing::warn!(error = %error, "a spare connection could not join the answer's snapshot");
            Ok(None)
        }
    }
}

/// One dedicated connection, for migrations and CLI commands.
pub async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = connect_raw(url).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "postgres connection closed");
        }
    });
    Ok(client)
}

/// The connection half of a dedicated connection (see [`connect_raw`]).
pub type PgConnection = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

/// A dedicated connection whose messages (notifications) the caller drives.
pub async fn connect_raw(url: &str) -> anyhow::Result<(tokio_postgres::Client, PgConnection)> {
    let (config, tls) = postgres_config(url)?;
    config.connect(tls).await.context("connecting to Postgres")
}

/// Readiness check: a pooled connection answers `SELECT 1`.
pub async fn pg_probe(pool: PgPool) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| format!("postgres: {e}"))?;
    client.execute("SELECT 1", &[]).await.map_err(|e| format!("postgres: {e}"))?;
    Ok(())
}
