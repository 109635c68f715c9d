//! `analytics-aggregator`: see the crate docs in `lib.rs`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    analytics_telemetry::init_tracing("aggregator");
    let app = analytics_aggregator::Application::build(analytics_aggregator::Settings::load()?).await?;
    app.run_until_stopped(analytics_telemetry::shutdown_on_signal()).await
}
