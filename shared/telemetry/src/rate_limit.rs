//! Token buckets per client, so one client far above its rate cannot take
//! the capacity of everyone else: a bucket holds up to `burst` tokens, fills
//! at `rate` per second, and each request takes one. The buckets of the
//! clients seen last are kept (a bounded number, least recently seen first
//! to go), so random client keys cannot grow memory either.

use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

pub struct RateLimiter<K: Hash + Eq> {
    /// Tokens per second; 0 turns the limit off.
    rate: f64,
    burst: f64,
    buckets: Mutex<LruCache<K, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Clients whose buckets are kept; one forgotten starts again full. The map
/// grows to this as clients come rather than being allocated whole up front
/// (2 MB for each limiter, most of which never see that many clients).
const CLIENTS: usize = 100_000;

impl<K: Hash + Eq> RateLimiter<K> {
    /// `rate` requests per second on average, `burst` at once; a rate of 0 allows everything.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { rate, burst: burst.max(1.0), buckets: Mutex::new(LruCache::unbounded()) }
    }

    /// Takes a token of `client`'s bucket, or says how long until one is there.
    pub fn check(&self, client: K) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() >= CLIENTS && !buckets.contains(&client) {
            buckets.pop_lru();
        }
        let bucket = buckets.get_or_insert_mut(client, || Bucket { tokens: self.burst, updated: now });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

/// Seconds for a `Retry-After` header: at least 1, rounded up.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = RateLimiter::new(10.0, 3.0);
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        let wait = limiter.check("a").expect_err("over the burst");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(limiter.check("b").is_ok(), "another client has its own bucket");
        std::thread::sleep(Duration::from_millis(120));
        assert!(limiter.check("a").is_ok(), "refilled at the rate");
        assert_eq!(retry_after_seconds(Duration::from_millis(10)), 1);
        assert!(RateLimiter::new(0.0, 1.0).check("a").is_ok() && RateLimiter::new(0.0, 1.0).check("a").is_ok());
    }

    #[test]
    fn the_clients_seen_last_are_kept() {
        let limiter = RateLimiter::new(1.0, 1.0);
        for client in 0..=CLIENTS {
            assert!(limiter.check(client).is_ok());
        }
        assert_eq!(limiter.buckets.lock().expect("lock").len(), CLIENTS);
        assert!(limiter.check(CLIENTS).is_err(), "the last one is still remembered");
        assert!(limiter.check(0).is_ok(), "the first one was forgotten, so it starts full again");
    }
}
