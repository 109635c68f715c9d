//! `analytics-query`: see the crate docs in `lib.rs`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    analytics_telemetry::init_tracing("query");
    let app = analytics_query::Application::build(analytics_query::Settings::load()?).await?;
    app.run_until_stopped(analytics_telemetry::shutdown_on_signal()).await
}
