use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: JSON lines when stdout is not a terminal
/// (containers, log shippers), human-readable text otherwise. `RUST_LOG`
/// filters, `info` by default. Calling it again (tests) is harmless.
pub fn init_tracing(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if std::io::stdout().is_terminal() {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(false).try_init()
    };
    if result.is_ok() {
        tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
    }
}
