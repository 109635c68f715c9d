//! The Redis side: claiming events into in-flight records and clearing them.
//!
//! Keys (below the configured prefix):
//! - `queue`: the list ingest LPUSHes to; the oldest event is at the tail.
//! - `inflight:<instance>`: set of batch ids this instance has claimed.
//! - `claiming:<instance>`: where the instance's blocking wait (BLMOVE) puts
//!   the first event of its next batch; at most a few events.
//! - `batch:<batch id>`: list of the batch's encoded events, oldest first.
//! - `forwarders`: set of instance ids that have run; `alive:<instance>`: a
//!   heartbeat key with a TTL. An instance whose heartbeat expired has its
//!   in-flight set adopted by a live one (see [`Claimer::adopt_orphans`]).
//!
//! Every move between these keys is one atomic command or script, and a batch
//! id enters the instance's set in the same script that fills the batch. So
//! after a crash at any instant, each event is in `queue`, in a `claiming`
//! list or in a registered batch, all of which recovery finds by instance id.

use std::time::Duration;

use analytics_config::RedisSettings;
use analytics_telemetry::Shutdown;
use redis::aio::ConnectionManager;
use uuid::Uuid;

/// A claimed batch: its id (the aggregator's idempotency key) and events.
pub struct ClaimedBatch {
    pub id: String,
    pub events: Vec<Vec<u8>>,
}

/// Builds batch ARGV[2]: first whatever waits in the claiming list, then up to
/// ARGV[1] events in all from the tail (oldest end) of the queue, in order,
/// as long as the encoded batch stays within ARGV[3] bytes (but at least one
/// event: ingest bounds each event far below any sane ceiling). Each event
/// costs its length and at most 6 bytes of framing, the batch id 64.
/// Registers the batch in the instance's set and returns its events; returns
/// nothing (and registers nothing) when there was nothing to claim.
/// KEYS: queue, claiming list, batch list, in-flight set.
const CLAIM_SCRIPT: &str = r"
local batch = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
local max_bytes = tonumber(ARGV[3])
local bytes = 64
for i = 1, #batch do
  bytes = bytes + #batch[i] + 6
end
local room = tonumber(ARGV[1]) - #batch
if room > 0 and bytes < max_bytes then
  local items = redis.call('LRANGE', KEYS[1], -room, -1)
  local taken = 0
  for i = #items, 1, -1 do
    local size = #items[i] + 6
    if #batch > 0 and bytes + size > max_bytes then
      break
    end
    batch[#batch + 1] = items[i]
    bytes = bytes + size
    taken = taken + 1
  end
  if taken > 0 then
    redis.call('LTRIM', KEYS[1], 0, -taken - 1)
  end
end
if #batch == 0 then
  return {}
end
for i = 1, #batch, 1000 do
  redis.call('RPUSH', KEYS[3], unpack(batch, i, math.min(i + 999, #batch)))
end
redis.call('SADD', KEYS[4], ARGV[2])
return batch
";

/// Moves a dead instance's in-flight batch ids and claiming list into ours,
/// unless its heartbeat is back. KEYS: its alive key, its set, our set, the
/// forwarders set, its claiming list, our claiming list.
const ADOPT_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {}
end
while redis.call('LMOVE', KEYS[5], KEYS[6], 'LEFT', 'RIGHT') do
end
local ids = redis.call('SMEMBERS', KEYS[2])
for _, id in ipairs(ids) do
  redis.call('SADD', KEYS[3], id)
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[1])
return ids
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
    instance_id: String,
    inflight_key: String,
    batch_size: usize,
    max_batch_bytes: usize,
    linger: Duration,
    claim: redis::Script,
    adopt: redis::Script,
}

impl Claimer {
    pub async fn connect(
        settings: &RedisSettings,
        instance_id: &str,
        batch_size: usize,
        max_batch_bytes: usize,
        linger: Duration,
    ) -> anyhow::Result<Self> {
        let redis = analytics_store::redis_manager(settings.url(), Duration::from_secs(2)).await?;
        let blocking =
            analytics_store::redis_manager(settings.url(), Duration::from_secs_f64(IDLE_WAIT_SECONDS + 2.0)).await?;
        Ok(Self {
            redis,
            blocking,
            inflight_key: settings.inflight_key(instance_id),
            instance_id: instance_id.to_owned(),
            settings: settings.clone(),
            batch_size: batch_size.max(1),
            max_batch_bytes,
            linger,
            claim: redis::Script::new(CLAIM_SCRIPT),
            adopt: redis::Script::new(ADOPT_SCRIPT),
        })
    }

    pub fn connection(&self) -> ConnectionManager {
        self.redis.clone()
    }

    pub fn inflight_key(&self) -> &str {
        &self.inflight_key
    }

    /// The next batch: at once when a full one is queued; after at most
    /// `linger` when only part of one is; and when the queue is empty, after
    /// waiting (blocking in Redis, not polling) up to about a second for a
    /// first event. `None` when nothing arrived.
    pub async fn next_batch(&self) -> redis::RedisResult<Option<ClaimedBatch>> {
        let mut redis = self.redis.clone();
        let claiming = self.settings.claiming_key(&self.instance_id);
        let queued: u64 = redis::cmd("LLEN").arg(self.settings.queue_key()).query_async(&mut redis).await?;
        if queued == 0 {
            let first: Option<Vec<u8>> = redis::cmd("BLMOVE")
                .arg(self.settings.queue_key())
                .arg(&claiming)
                .arg("RIGHT")
                .arg("RIGHT")
                .arg(IDLE_WAIT_SECONDS)
                .query_async(&mut self.blocking.clone())
                .await?;
            if first.is_none() {
                // A lost reply or an adopted claiming list can leave events there.
                let staged: u64 = redis::cmd("LLEN").arg(&claiming).query_async(&mut redis).await?;
                if staged == 0 {
                    return Ok(None);
                }
            }
        }
        if (queued as usize) < self.batch_size {
            tokio::time::sleep(self.linger).await;
        }
        self.claim_into_new_batch(self.batch_size).await
    }

    /// Runs [`CLAIM_SCRIPT`] for a new batch id; `limit` 0 takes only what
    /// waits in the claiming list.
    async fn claim_into_new_batch(&self, limit: usize) -> redis::RedisResult<Option<ClaimedBatch>> {
        let id = Uuid::now_v7().to_string();
        let events: Vec<Vec<u8>> = self
            .claim
            .key(self.settings.queue_key())
            .key(self.settings.claiming_key(&self.instance_id))
            .key(self.settings.batch_key(&id))
            .key(&self.inflight_key)
            .arg(limit)
            .arg(&id)
            .arg(self.max_batch_bytes)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok((!events.is_empty()).then_some(ClaimedBatch { id, events }))
    }

    /// This instance's batches left in flight by an earlier run, for republishing.
    /// Empty leftovers are cleared on the way.
    pub async fn owned_batches(&self) -> redis::RedisResult<Vec<ClaimedBatch>> {
        // Events a crash left between the blocking wait and the claim become a batch first.
        self.claim_into_new_batch(0).await?;
        let ids: Vec<String> =
            redis::cmd("SMEMBERS").arg(&self.inflight_key).query_async(&mut self.redis.clone()).await?;
        self.load_batches(ids).await
    }

    /// Renews [`Self::heartbeat`] every third of `ttl` until `shutdown`, so
    /// other instances leave this one's batches alone while it lives.
    pub fn spawn_heartbeat(&self, ttl: Duration, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        let claimer = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = claimer.heartbeat(ttl).await {
                    tracing::warn!(%error, "heartbeat failed");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(ttl / 3) => {}
                }
            }
        })
    }

    /// Marks this instance alive for `ttl` and registers it among the forwarders.
    pub async fn heartbeat(&self, ttl: Duration) -> redis::RedisResult<()> {
        redis::pipe()
            .cmd("SET")
            .arg(self.alive_key(&self.instance_id))
            .arg(1)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .ignore()
            .sadd(self.settings.forwarders_key(), &self.instance_id)
            .ignore()
            .query_async::<()>(&mut self.redis.clone())
            .await
    }

    /// Takes over the in-flight batches of every instance whose heartbeat has
    /// expired (a pod scaled away for good), moving their ids into this
    /// instance's set in one script per instance, and returns them to publish.
    /// Two live instances racing for one orphan: the script runs atomically, so
    /// one gets everything and the other nothing. An instance that was only
    /// slow may publish a batch that was adopted too; the aggregator drops the
    /// second copy by batch id.
    pub async fn adopt_orphans(&self) -> redis::RedisResult<Vec<ClaimedBatch>> {
        let mut redis = self.redis.clone();
        let instances: Vec<String> =
            redis::cmd("SMEMBERS").arg(self.settings.forwarders_key()).query_async(&mut redis).await?;
        let mut adopted = Vec::new();
        for instance in instances.into_iter().filter(|i| *i != self.instance_id) {
            let ids: Vec<String> = self
                .adopt
                .key(self.alive_key(&instance))
                .key(self.settings.inflight_key(&instance))
                .key(&self.inflight_key)
                .key(self.settings.forwarders_key())
                .key(self.settings.claiming_key(&instance))
                .key(self.settings.claiming_key(&self.instance_id))
                .arg(&instance)
                .invoke_async(&mut redis)
                .await?;
            if !ids.is_empty() {
                tracing::warn!(instance, batches = ids.len(), "adopted the in-flight batches of a dead forwarder");
            }
            adopted.extend(ids);
        }
        self.load_batches(adopted).await
    }

    async fn load_batches(&self, ids: Vec<String>) -> redis::RedisResult<Vec<ClaimedBatch>> {
        let mut redis = self.redis.clone();
        let mut batches = Vec::new();
        for id in ids {
            let events: Vec<Vec<u8>> =
                redis::cmd("LRANGE").arg(self.settings.batch_key(&id)).arg(0).arg(-1).query_async(&mut redis).await?;
            if events.is_empty() {
                redis::cmd("SREM").arg(&self.inflight_key).arg(&id).query_async::<()>(&mut redis).await?;
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
            .del(self.settings.batch_key(id))
            .srem(&self.inflight_key, id)
            .query_async::<()>(&mut self.redis.clone())
            .await
    }

    fn alive_key(&self, instance: &str) -> String {
        self.settings.key(&format!("alive:{instance}"))
    }
}
