//! Redis response cache. Every key embeds the current generation number, so
//! clearing the cache is one INCR: old entries are never looked up again and
//! expire by their TTL. No KEYS, no SCAN, O(1) whatever the keyspace.

use std::time::Duration;

use prometheus::IntCounterVec;
use redis::aio::ConnectionManager;

pub struct Cache {
    redis: ConnectionManager,
    generation_key: String,
    entry_prefix: String,
    /// For answers whose range includes today: they change with every commit.
    pub live_ttl: Duration,
    /// For closed ranges: they change only if late events arrive.
    pub closed_ttl: Duration,
    /// `analytics_query_cache_total{outcome=hit|miss|error}`
    pub lookups: IntCounterVec,
    lookup: redis::Script,
}

/// Reads the generation and the entry under it in one round trip.
const LOOKUP_SCRIPT: &str = r"
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])}
";

/// A cache lookup: the entry if present, and the generation to store under.
pub struct Lookup {
    pub hit: Option<String>,
    pub generation: String,
}

impl Cache {
    pub fn new(
        redis: ConnectionManager,
        settings: &analytics_config::RedisSettings,
        live_ttl: Duration,
        closed_ttl: Duration,
        lookups: IntCounterVec,
    ) -> Self {
        Self {
            redis,
            generation_key: settings.key("query-cache:generation"),
            entry_prefix: settings.key("query-cache:"),
            live_ttl,
            closed_ttl,
            lookups,
            lookup: redis::Script::new(LOOKUP_SCRIPT),
        }
    }

    /// `None` when Redis is unavailable: the caller answers uncached.
    pub async fn get(&self, key: &str) -> Option<Lookup> {
        let result: redis::RedisResult<(String, Option<String>)> = self
            .lookup
            .key(&self.generation_key)
            .arg(&self.entry_prefix)
            .arg(key)
            .invoke_async(&mut self.redis.clone())
            .await;
        match result {
            Ok((generation, hit)) => {
                self.lookups.with_label_values(&[if hit.is_some() { "hit" } else { "miss" }]).inc();
                Some(Lookup { hit, generation })
            }
            Err(error) => {
                self.lookups.with_label_values(&["error"]).inc();
                tracing::warn!(%error, "response cache unavailable; answering uncached");
                None
            }
        }
    }

    pub async fn put(&self, generation: &str, key: &str, body: &str, ttl: Duration) {
        let full_key = format!("{}{generation}:{key}", self.entry_prefix);
        let result: redis::RedisResult<()> = redis::cmd("SET")
            .arg(full_key)
            .arg(body)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut self.redis.clone())
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "storing a cached response failed");
        }
    }

    /// Makes every cached answer unreachable; returns the new generation.
    pub async fn clear(&self) -> redis::RedisResult<i64> {
        redis::cmd("INCR").arg(&self.generation_key).query_async(&mut self.redis.clone()).await
    }
}
