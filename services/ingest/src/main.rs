//! `analytics-ingest`: see the crate docs in `lib.rs`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    analytics_telemetry::init_tracing("ingest");
    let app = analytics_ingest::Application::build(analytics_ingest::Settings::load()?).await?;
    app.run_until_stopped(analytics_telemetry::shutdown_on_signal()).await
}
