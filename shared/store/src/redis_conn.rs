use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// A multiplexed connection that reconnects by itself. Every command has a
/// deadline, so a hung Redis turns into an error the caller can act on (a 503
/// at ingest) rather than a request that never ends.
pub async fn redis_manager(url: &str, response_timeout: Duration) -> anyhow::Result<ConnectionManager> {
    // `rediss://` is TLS; `sslrootcert=` names a private CA (see `tls`).
    let (url, root_cert) = crate::tls::take_root_cert_pem(url)?;
    let client = match root_cert {
        Some(pem) => {
            let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(pem.into_bytes()) };
            redis::Client::build_with_tls(url.as_str(), certificates)
        }
        None => redis::Client::open(url.as_str()),
    }
    .context("parsing the Redis URL")?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(response_timeout.max(Duration::from_millis(500))))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_with_config(client, config).await.context("connecting to Redis")
}

/// Readiness check: Redis answers PING.
pub async fn redis_probe(mut connection: ConnectionManager) -> Result<(), String> {
    redis::cmd("PING").query_async::<String>(&mut connection).await.map(|_| ()).map_err(|e| format!("redis: {e}"))
}
