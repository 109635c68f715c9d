//! `analytics-aggregator`: see the crate docs in `lib.rs`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    analytics_telemetry::init_tracing("aggregator");
    let settings = analytics_aggregator::Settings::load()?;
    let app = analytics_aggregator::Application::build(settings).await?;
    let shutdown = analytics_telemetry::Shutdown::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            analytics_telemetry::wait_for_signal().await;
            shutdown.cancel();
        }
    });
    app.run_until_stopped(shutdown).await
}
