//! Cookieless visitor identity (README, "Privacy"): a keyed hash of site,
//! client IP and user agent under a random salt that rotates every UTC day.
//! The salt lives in Redis so every ingest replica computes the same id, and
//! expires 48 h after its day began, after which nobody can link or reverse ids.

use std::sync::Mutex;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rand::RngCore;
use redis::aio::ConnectionManager;

pub struct Identity {
    redis: ConnectionManager,
    key_prefix: String,
    current: Mutex<Option<(NaiveDate, [u8; 32])>>,
}

/// Creates the day's salt if no replica has yet (NX), then reads the winner.
/// EXAT deletes it at the end of the following day: 48 h after its day began.
const SALT_SCRIPT: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EXAT', ARGV[2])
return redis.call('GET', KEYS[1])
";

impl Identity {
    pub fn new(redis: ConnectionManager, key_prefix: String) -> Self {
        Self { redis, key_prefix, current: Mutex::new(None) }
    }

    /// The salt of `now`'s UTC day, from memory after the first call of the day.
    pub async fn salt(&self, now: DateTime<Utc>) -> redis::RedisResult<[u8; 32]> {
        let day = now.date_naive();
        if let Some((cached_day, salt)) = *self.current.lock().expect("salt lock")
            && cached_day == day
        {
            return Ok(salt);
        }
        let mut candidate = [0u8; 32];
        rand::rng().fill_bytes(&mut candidate);
        let expires_at = day
            .checked_add_days(Days::new(2))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp())
            .unwrap_or_default();
        let stored: String = redis::Script::new(SALT_SCRIPT)
            .key(format!("{}salt:{day}", self.key_prefix))
            .arg(hex::encode(candidate))
            .arg(expires_at)
            .invoke_async(&mut self.redis.clone())
            .await?;
        let mut salt = [0u8; 32];
        hex::decode_to_slice(stored.trim(), &mut salt).map_err(|_| {
            redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "salt is not 32 hex bytes"))
        })?;
        *self.current.lock().expect("salt lock") = Some((day, salt));
        Ok(salt)
    }
}

/// The visitor id: the keyed hash of site, address and user agent under the
/// day's salt.
pub fn visitor_id(salt: &[u8; 32], site_id: &str, ip: &str, user_agent: &str) -> u64 {
    analytics_events::identity::keyed_id(salt, [site_id, ip, user_agent])
}

/// The visitor id of an app install: 64 bits of BLAKE3 keyed by the site's
/// secret, so the same install is the same visitor on every day, and the id
/// itself, which the app may also use elsewhere, never leaves ingest.
pub fn install_visitor_id(secret: &[u8; 32], install_id: &str) -> u64 {
    let hash = blake3::keyed_hash(secret, install_id.as_bytes());
    u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_id_and_salt_changes_it() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(visitor_id(&a, "s", "1.2.3.4", "UA"), visitor_id(&a, "s", "1.2.3.4", "UA"));
        assert_ne!(visitor_id(&a, "s", "1.2.3.4", "UA"), visitor_id(&b, "s", "1.2.3.4", "UA"));
        assert_ne!(visitor_id(&a, "s", "1.2.3.4", "UA"), visitor_id(&a, "s", "1.2.3.5", "UA"));
        assert_ne!(visitor_id(&a, "ab", "c", ""), visitor_id(&a, "a", "bc", ""));
    }

    #[test]
    fn install_ids_are_keyed_per_site() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(install_visitor_id(&a, "install-1"), install_visitor_id(&a, "install-1"));
        assert_ne!(install_visitor_id(&a, "install-1"), install_visitor_id(&b, "install-1"));
        assert_ne!(install_visitor_id(&a, "install-1"), install_visitor_id(&a, "install-2"));
    }
}
