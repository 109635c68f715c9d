use tokio_util::sync::CancellationToken;

/// The stop request a service's tasks watch. `main` cancels it on SIGTERM or
/// Ctrl-C; tests cancel it directly.
pub type Shutdown = CancellationToken;

/// Resolves on SIGTERM (Kubernetes, `make down`) or SIGINT (Ctrl-C).
async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("stop signal received, shutting down");
}

/// A [`Shutdown`] cancelled by the first SIGTERM or SIGINT: what every
/// service's `main` runs under. Must be called inside the Tokio runtime.
pub fn shutdown_on_signal() -> Shutdown {
    let shutdown = Shutdown::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            wait_for_signal().await;
            shutdown.cancel();
        }
    });
    shutdown
}
