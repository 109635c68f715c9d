//! The Redis list every accepted event goes to. One round trip per push: a
//! script checks the high-water mark and LPUSHes all of a request's events.

use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::error::IngestError;

/// Refuses when the list already holds `high_water` entries, else pushes all.
/// Returns the new length, or -1 when refused.
const PUSH_SCRIPT: &str = r"
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  return -1
end
return redis.call('LPUSH', KEYS[1], unpack(ARGV, 2))
";

#[derive(Clone)]
pub struct EventQueue {
    redis: ConnectionManager,
    key: String,
    high_water: u64,
    timeout: Duration,
    script: redis::Script,
}

impl EventQueue {
    pub fn new(redis: ConnectionManager, key: String, high_water: u64, timeout: Duration) -> Self {
        Self { redis, key, high_water, timeout, script: redis::Script::new(PUSH_SCRIPT) }
    }

    /// Returns only after Redis confirmed the write: the caller may then answer 2xx.
    pub async fn push(&self, encoded: &[Vec<u8>]) -> Result<(), IngestError> {
        if encoded.is_empty() {
            return Ok(());
        }
        let mut invocation = self.script.key(&self.key);
        invocation.arg(self.high_water);
        for event in encoded {
            invocation.arg(event.as_slice());
        }
        let mut connection = self.redis.clone();
        match tokio::time::timeout(self.timeout, invocation.invoke_async::<i64>(&mut connection)).await {
            Ok(Ok(length)) if length >= 0 => Ok(()),
            Ok(Ok(_)) => Err(IngestError::Backpressure),
            Ok(Err(error)) => {
                tracing::warn!(%error, "redis push failed");
                Err(IngestError::Unavailable)
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "redis push timed out");
                Err(IngestError::Unavailable)
            }
        }
    }
}
