//! The Redis list every accepted event goes to. One round trip per push: a
//! script checks the high-water mark and LPUSHes all of a request's events.

use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::error::IngestError;

/// Refuses when the list already holds `high_water` entries, else pushes all.
/// With an idempotency key (ARGV[2] = '1'), a push whose key was seen in the
/// last ARGV[3] seconds is skipped: a client retrying after a lost reply
/// (Redis stored the events, the 2xx never arrived) is not counted twice.
/// KEYS: the queue, the idempotency key. Returns the new length, -1 when
/// refused, -2 when already stored.
const PUSH_SCRIPT: &str = r"
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  return -2
end
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  return -1
end
if ARGV[2] == '1' then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
end
return redis.call('LPUSH', KEYS[1], unpack(ARGV, 4))
";

/// How long an idempotency key is remembered: events older than this are
/// refused anyway, so a later retry could not be accepted twice either.
const IDEMPOTENCY_TTL_SECONDS: u64 = 24 * 3600;

/// What became of a push.
#[derive(Debug, PartialEq)]
pub enum Pushed {
    Stored,
    /// The same idempotency key was stored before; nothing was added.
    AlreadyStored,
}

#[derive(Clone)]
pub struct EventQueue {
    redis: ConnectionManager,
    key: String,
    idempotency_prefix: String,
    high_water: u64,
    timeout: Duration,
    script: redis::Script,
}

impl EventQueue {
    pub fn new(
        redis: ConnectionManager,
        settings: &analytics_config::RedisSettings,
        high_water: u64,
        timeout: Duration,
    ) -> Self {
        Self {
            redis,
            key: settings.queue_key(),
            idempotency_prefix: settings.key("idempotency:"),
            high_water,
            timeout,
            script: redis::Script::new(PUSH_SCRIPT),
        }
    }

    /// Returns only after Redis confirmed the write: the caller may then answer 2xx.
    pub async fn push(&self, encoded: &[Vec<u8>], idempotency_key: Option<&str>) -> Result<Pushed, IngestError> {
        if encoded.is_empty() {
            return Ok(Pushed::Stored);
        }
        let mut invocation = self.script.key(&self.key);
        invocation
            .key(format!("{}{}", self.idempotency_prefix, idempotency_key.unwrap_or_default()))
            .arg(self.high_water)
            .arg(if idempotency_key.is_some() { "1" } else { "0" })
            .arg(IDEMPOTENCY_TTL_SECONDS);
        for event in encoded {
            invocation.arg(event.as_slice());
        }
        let mut connection = self.redis.clone();
        match tokio::time::timeout(self.timeout, invocation.invoke_async::<i64>(&mut connection)).await {
            Ok(Ok(length)) if length >= 0 => Ok(Pushed::Stored),
            Ok(Ok(-2)) => Ok(Pushed::AlreadyStored),
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
