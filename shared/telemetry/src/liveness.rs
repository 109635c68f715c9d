//! Whether a worker's loop still gets its work done. A process can be
//! running, connected and ready while its loop is stuck (retrying the same
//! batch forever, say); `/healthz` then fails, so that the orchestrator
//! restarts it and the alert on the last-progress metric fires.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use prometheus::Gauge;

/// Work waiting, and when the loop last finished some. Cheap to clone; all
/// clones share state.
#[derive(Clone)]
pub struct Progress {
    state: Arc<State>,
}

struct State {
    /// Unix ms since when work has been waiting; 0 while there is none.
    waiting_since_ms: AtomicI64,
    last_progress_ms: AtomicI64,
    stall_after_ms: i64,
    /// The time of the last progress, in Unix seconds, for `/metrics`.
    gauge: Gauge,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Progress {
    /// Stalled once work has waited `stall_after` with no progress. `gauge`
    /// gets the time of every progress (and of the start).
    pub fn new(stall_after: Duration, gauge: Gauge) -> Self {
        let now = now_ms();
        gauge.set(now as f64 / 1000.0);
        let state = State {
            waiting_since_ms: AtomicI64::new(0),
            last_progress_ms: AtomicI64::new(now),
            stall_after_ms: i64::try_from(stall_after.as_millis()).unwrap_or(i64::MAX),
            gauge,
        };
        Self { state: Arc::new(state) }
    }

    /// There is work to do (a no-op while some is already waiting).
    pub fn waiting(&self) {
        let _ = self.state.waiting_since_ms.compare_exchange(0, now_ms(), Ordering::AcqRel, Ordering::Acquire);
    }

    /// Some work was done (a batch committed, confirmed).
    pub fn progressed(&self) {
        let now = now_ms();
        self.state.last_progress_ms.store(now, Ordering::Release);
        self.state.gauge.set(now as f64 / 1000.0);
    }

    /// Nothing is waiting any more.
    pub fn idle(&self) {
        self.state.waiting_since_ms.store(0, Ordering::Release);
    }

    /// How long work has waited without progress, once that is longer than
    /// the stall time.
    pub fn stalled_for(&self) -> Option<Duration> {
        let waiting_since = self.state.waiting_since_ms.load(Ordering::Acquire);
        if waiting_since == 0 {
            return None;
        }
        let since = waiting_since.max(self.state.last_progress_ms.load(Ordering::Acquire));
        let stalled = now_ms().saturating_sub(since);
        (stalled > self.state.stall_after_ms).then(|| Duration::from_millis(stalled as u64))
    }
}

/// The loops `/healthz` watches.
#[derive(Clone, Default)]
pub struct Liveness {
    watched: Arc<std::sync::RwLock<Vec<(&'static str, Progress)>>>,
}

impl Liveness {
    pub fn watch(&self, name: &'static str, progress: Progress) {
        self.watched.write().expect("liveness lock").push((name, progress));
    }

    /// Alive when no watched loop is stalled; a JSON report either way.
    pub fn check(&self) -> (bool, serde_json::Value) {
        let mut alive = true;
        let mut checks = serde_json::Map::new();
        for (name, progress) in self.watched.read().expect("liveness lock").iter() {
            let state = match progress.stalled_for() {
                Some(stalled) => {
                    alive = false;
                    format!("no progress for {} s while work waits", stalled.as_secs())
                }
                None => "ok".to_owned(),
            };
            checks.insert((*name).to_owned(), state.into());
        }
        let status = if alive { "alive" } else { "stalled" };
        (alive, serde_json::json!({ "status": status, "checks": checks }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(stall_after: Duration) -> Progress {
        Progress::new(stall_after, Gauge::new("t", "t").expect("gauge"))
    }

    #[test]
    fn only_waiting_work_without_progress_is_a_stall() {
        let p = progress(Duration::ZERO);
        assert_eq!(p.stalled_for(), None, "nothing waits");
        p.waiting();
        std::thread::sleep(Duration::from_millis(5));
        assert!(p.stalled_for().is_some(), "work waits, no progress");
        p.idle();
        assert_eq!(p.stalled_for(), None);

        let p = progress(Duration::from_secs(60));
        p.waiting();
        assert_eq!(p.stalled_for(), None, "within the stall time");
        let liveness = Liveness::default();
        liveness.watch("loop", p);
        assert!(liveness.check().0);
    }
}
