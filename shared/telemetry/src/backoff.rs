use std::time::Duration;

use crate::Shutdown;

/// The pause between retries of a step that keeps failing (a store away, a
/// publish refused): it doubles with every failure up to a ceiling, starts
/// over after a success, and a stop request cuts it short.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub const fn new(min: Duration, max: Duration) -> Self {
        Self { min, max, next: min }
    }

    /// How long the next [`Self::wait`] pauses, for the log line that announces it.
    pub fn next(&self) -> Duration {
        self.next
    }

    /// After a success: the next failure waits the shortest pause again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// Pauses, and doubles the next pause up to the ceiling. `false` when
    /// `shutdown` came first: the caller stops retrying.
    pub async fn wait(&mut self, shutdown: &Shutdown) -> bool {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(pause) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pauses_double_to_the_ceiling_and_start_over_after_a_success() {
        let shutdown = Shutdown::new();
        let mut backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(3));
        let mut pauses = Vec::new();
        for _ in 0..4 {
            pauses.push(backoff.next());
            assert!(backoff.wait(&shutdown).await);
        }
        assert_eq!(pauses, [1, 2, 3, 3].map(Duration::from_millis));
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(1));
        shutdown.cancel();
        assert!(!backoff.wait(&shutdown).await, "a stop request ends the pause");
    }
}
