//! `analytics-forwarder`: see the crate docs in `lib.rs`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    analytics_telemetry::init_tracing("forwarder");
    let app = analytics_forwarder::Application::build(analytics_forwarder::Settings::load()?).await?;
    app.run_until_stopped(analytics_telemetry::shutdown_on_signal()).await
}
