//! The Redis side: claiming events into in-flight records and clearing them.
//!
//! Keys (below the configured prefix):
//! - `queue`: the list ingest LPUSHes to; the oldest event is at the tail.
//! - `inflight:<instance>`: set of batch ids this instance has claimed.
//! - `batch:<batch id>`: list of the batch's encoded events, oldest first.
//!
//! Every move from `queue` into a batch is one atomic command or script, and a
//! batch id is registered in the instance's set before any event moves into
//! it. So after a crash at any instant, each event is either still in `queue`
//! or in a batch that recovery will find.

use std::time::Duration;

use analytics_config::RedisSettings;
use redis::aio::ConnectionManager;
use uuid::Uuid;

/// A claimed batch: its id (the aggregator's idempotency key) and events.
pub struct ClaimedBatch {
    pub id: String,
    pub events: Vec<Vec<u8>>,
}

/// Moves up to ARGV[1] of the oldest events from the queue to the end of the
/// batch list, keeping their order, and returns the whole batch.
const TOP_UP_SCRIPT: &str = r"
local n = tonumber(ARGV[1])
if n > 0 then
  local items = redis.call('LRANGE', KEYS[1], -n, -1)
  if #items > 0 then
    redis.call('LTRIM', KEYS[1], 0, -#items - 1)
    for i = #items, 1, -1 do
      redis.call('RPUSH', KEYS[2], items[i])
    end
  end
end
return redis.call('LRANGE', KEYS[2], 0, -1)
";

/// How long one blocking wait for the first event lasts before the loop checks
/// for shutdown again. Idle cost: one BLMOVE per second.
const IDLE_WAIT_SECONDS: f64 = 1.0;

#[derive(Clone)]
pub struct Claimer {
    redis: ConnectionManager,
    /// A separate connection for BLMOVE, which holds its connection while it waits.
    blocking: ConnectionManager,
    settings: RedisSettings,
    inflight_key: String,
    batch_size: usize,
    linger: Duration,
    top_up: redis::Script,
}

impl Claimer {
    pub async fn connect(
        settings: &RedisSettings,
        instance_id: &str,
        batch_size: usize,
        linger: Duration,
    ) -> anyhow::Result<Self> {
        let redis = analytics_store::redis_manager(settings.url(), Duration::from_secs(2)).await?;
        let blocking = analytics_store::redis_manager(
            settings.url(),
            Duration::from_secs_f64(IDLE_WAIT_SECONDS + 2.0),
        )
        .await?;
        Ok(Self {
            redis,
            blocking,
            inflight_key: inflight_key(settings, instance_id),
            settings: settings.clone(),
            batch_size: batch_size.max(1),
            linger,
            top_up: redis::Script::new(TOP_UP_SCRIPT),
        })
    }

    pub fn connection(&self) -> ConnectionManager {
        self.redis.clone()
    }

    pub fn inflight_key(&self) -> &str {
        &self.inflight_key
    }

    /// Waits (blocking in Redis, not polling) up to about a second for an
    /// event; then lets the batch fill for at most `linger` unless a full batch
    /// is already queued. `None` when nothing arrived.
    pub async fn next_batch(&self) -> redis::RedisResult<Option<ClaimedBatch>> {
        let id = Uuid::now_v7().to_string();
        let batch_key = self.batch_key(&id);
        let mut redis = self.redis.clone();
        redis::cmd("SADD")
            .arg(&self.inflight_key)
            .arg(&id)
            .query_async::<()>(&mut redis)
            .await?;
        let first: Option<Vec<u8>> = redis::cmd("BLMOVE")
            .arg(self.settings.queue_key())
            .arg(&batch_key)
            .arg("RIGHT")
            .arg("RIGHT")
            .arg(IDLE_WAIT_SECONDS)
            .query_async(&mut self.blocking.clone())
            .await?;
        if first.is_none() {
            // The batch list may hold an event if the reply was lost; SREM only
            // when it is really empty, else recovery would miss it.
            let length: u64 = redis::cmd("LLEN")
                .arg(&batch_key)
                .query_async(&mut redis)
                .await?;
            if length == 0 {
                redis::cmd("SREM")
                    .arg(&self.inflight_key)
                    .arg(&id)
                    .query_async::<()>(&mut redis)
                    .await?;
                return Ok(None);
            }
        }
        if self.batch_size > 1 {
            let queued: u64 = redis::cmd("LLEN")
                .arg(self.settings.queue_key())
                .query_async(&mut redis)
                .await?;
            if (queued as usize) < self.batch_size - 1 {
                tokio::time::sleep(self.linger).await;
            }
        }
        let events: Vec<Vec<u8>> = self
            .top_up
            .key(self.settings.queue_key())
            .key(&batch_key)
            .arg(self.batch_size - 1)
            .invoke_async(&mut redis)
            .await?;
        Ok(Some(ClaimedBatch { id, events }))
    }

    /// This instance's batches left in flight by an earlier run, for republishing.
    /// Empty leftovers are cleared on the way.
    pub async fn owned_batches(&self) -> redis::RedisResult<Vec<ClaimedBatch>> {
        let mut redis = self.redis.clone();
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&self.inflight_key)
            .query_async(&mut redis)
            .await?;
        let mut batches = Vec::new();
        for id in ids {
            let events: Vec<Vec<u8>> = redis::cmd("LRANGE")
                .arg(self.batch_key(&id))
                .arg(0)
                .arg(-1)
                .query_async(&mut redis)
                .await?;
            if events.is_empty() {
                redis::cmd("SREM")
                    .arg(&self.inflight_key)
                    .arg(&id)
                    .query_async::<()>(&mut redis)
                    .await?;
            } else {
                batches.push(ClaimedBatch { id, events });
            }
        }
        Ok(batches)
    }

    /// Deletes a confirmed batch's in-flight record. The events are in
    /// RabbitMQ now; a crash before this only causes a republish, which the
    /// aggregator recognises by batch id.
    pub async fn complete(&self, id: &str) -> redis::RedisResult<()> {
        redis::pipe()
            .atomic()
            .del(self.batch_key(id))
            .srem(&self.inflight_key, id)
            .query_async::<()>(&mut self.redis.clone())
            .await
    }

    fn batch_key(&self, id: &str) -> String {
        self.settings.key(&format!("batch:{id}"))
    }
}

pub fn inflight_key(settings: &RedisSettings, instance_id: &str) -> String {
    settings.key(&format!("inflight:{instance_id}"))
}
