use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A dependency check as stored: see [`Readiness::add_check`].
type CheckProbe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Check> + Send>> + Send + Sync>;

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Ok,
    Degraded(String),
    Failed(String),
}

impl From<Result<(), String>> for Check {
    fn from(result: Result<(), String>) -> Self {
        match result {
            Ok(()) => Check::Ok,
            Err(reason) => Check::Failed(reason),
        }
    }
}

/// Whether the service should receive work: not while shutting down, and not
/// while a dependency is unreachable. Cheap to clone; all clones share state.
#[derive(Clone, Default)]
pub struct Readiness {
    shutting_down: Arc<AtomicBool>,
    probes: Arc<std::sync::RwLock<Vec<(&'static str, CheckProbe)>>>,
}

/// A probe that has not answered by then counts as failed: `/readyz` must
/// answer quickly even when a dependency hangs.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

impl Readiness {
    /// Adds a dependency check that answers `Ok` when the dependency is
    /// reachable and `Err(reason)` otherwise.
    pub fn add_probe<F, Fut>(&self, name: &'static str, probe: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.add_check(name, move || {
            let outcome = probe();
            async move { Check::from(outcome.await) }
        });
    }

    /// Adds a dependency check with a middle ground: [`Check::Degraded`] keeps
    /// the service ready (it still does its job from what it holds in memory)
    /// and says why in `/readyz`.
    pub fn add_check<F, Fut>(&self, name: &'static str, probe: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Check> + Send + 'static,
    {
        let probe: CheckProbe = Arc::new(move || Box::pin(probe()));
        self.probes.write().expect("probe list lock").push((name, probe));
    }

    /// First step of a graceful stop: load balancers see 503 on `/readyz`.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Runs every probe concurrently; returns overall readiness and a JSON report.
    pub async fn check(&self) -> (bool, serde_json::Value) {
        let probes: Vec<(&'static str, CheckProbe)> = self.probes.read().expect("probe list lock").clone();
        let results = futures_util::future::join_all(probes.into_iter().map(|(name, probe)| async move {
            let outcome = match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
                Ok(check) => check,
                Err(_) => Check::Failed(format!("no answer within {PROBE_TIMEOUT:?}")),
            };
            (name, outcome)
        }))
        .await;
        let mut ready = !self.is_shutting_down();
        let mut degraded = false;
        let mut checks = serde_json::Map::new();
        for (name, outcome) in results {
            let value = match outcome {
                Check::Ok => "ok".to_owned(),
                Check::Degraded(reason) => {
                    degraded = true;
                    format!("degraded: {reason}")
                }
                Check::Failed(reason) => {
                    ready = false;
                    reason
                }
            };
            checks.insert(name.to_owned(), value.into());
        }
        let status = if self.is_shutting_down() {
            "shutting down"
        } else if !ready {
            "not ready"
        } else if degraded {
            "degraded"
        } else {
            "ready"
        };
        (ready, serde_json::json!({ "status": status, "checks": checks }))
    }
}
