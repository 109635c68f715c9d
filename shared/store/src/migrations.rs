refinery::embed_migrations!("migrations");

/// Applies every migration not yet applied (`refinery_schema_history` records
/// them). Safe to run from several processes: refinery takes a lock-free path,
/// so the Kubernetes Job and `analytics-ctl migrate` are the only callers.
pub async fn migrate(postgres_url: &str) -> anyhow::Result<usize> {
    let mut client = crate::connect(postgres_url).await?;
    // As a message, not a source: refinery's error has no source chain, and
    // anyhow's "Caused by" would print an empty line.
    let report =
        migrations::runner().run_async(&mut client).await.map_err(|e| anyhow::anyhow!("applying migrations: {e}"))?;
    for applied in report.applied_migrations() {
        tracing::info!(migration = %applied, "applied");
    }
    Ok(report.applied_migrations().len())
}
