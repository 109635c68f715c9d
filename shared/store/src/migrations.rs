use anyhow::Context;

refinery::embed_migrations!("migrations");

/// Applies every migration not yet applied (`refinery_schema_history` records
/// them). Safe to run from several processes: refinery takes a lock-free path,
/// so the Kubernetes Job and `analytics-ctl migrate` are the only callers.
pub async fn migrate(postgres_url: &str) -> anyhow::Result<usize> {
    let mut client = crate::connect(postgres_url).await?;
    let report = migrations::runner().run_async(&mut client).await.context("applying migrations")?;
    for applied in report.applied_migrations() {
        tracing::info!(migration = %applied, "applied");
    }
    Ok(report.applied_migrations().len())
}
