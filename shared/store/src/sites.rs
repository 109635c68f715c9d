//! The registry of tracked sites: created by `analytics-ctl site add`, read by
//! every service through a [`SiteDirectory`] that is cached in memory, so no
//! event or dashboard request costs a database round trip to resolve its site.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use rand::RngCore;
use serde::Serialize;
use tokio_postgres::Client;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize)]
pub struct Site {
    pub id: Uuid,
    pub domain: String,
    #[serde(serialize_with = "serialize_tz")]
    pub timezone: Tz,
    #[serde(skip)]
    pub api_token_hash: [u8; 32],
}

fn serialize_tz<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("unknown time zone {0:?}: expected an IANA name such as Asia/Tehran")]
    BadTimezone(String),
    #[error("invalid domain {0:?}: expected a host name such as example.com")]
    BadDomain(String),
    #[error("a site with domain {0:?} already exists")]
    DuplicateDomain(String),
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
}

/// The dashboard API token is shown once, at creation; only its hash is stored.
pub fn hash_token(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("ak_{}", hex::encode(bytes))
}

fn normalise_domain(domain: &str) -> Result<String, SiteError> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if valid { Ok(d) } else { Err(SiteError::BadDomain(domain.to_owned())) }
}

/// Creates a site; returns it with its API token (the only time it is known).
pub async fn add_site(client: &Client, domain: &str, timezone: &str) -> Result<(Site, String), SiteError> {
    let domain = normalise_domain(domain)?;
    let tz: Tz = timezone.parse().map_err(|_| SiteError::BadTimezone(timezone.to_owned()))?;
    let token = new_token();
    let site = Site { id: Uuid::now_v7(), domain, timezone: tz, api_token_hash: hash_token(&token) };
    let inserted = client
        .execute(
            "INSERT INTO sites (id, domain, timezone, api_token_hash) VALUES ($1, $2, $3, $4)
             ON CONFLICT (domain) DO NOTHING",
            &[&site.id, &site.domain, &tz.name(), &site.api_token_hash.as_slice()],
        )
        .await?;
    if inserted == 0 {
        return Err(SiteError::DuplicateDomain(site.domain));
    }
    Ok((site, token))
}

pub async fn list_sites(client: &Client) -> Result<Vec<Site>, tokio_postgres::Error> {
    let rows =
        client.query("SELECT id, domain, timezone, api_token_hash FROM sites ORDER BY created_at, domain", &[]).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let timezone: String = row.get(2);
            let hash: Vec<u8> = row.get(3);
            Some(Site {
                id: row.get(0),
                domain: row.get(1),
                // A zone name this build does not know is skipped (and logged) rather
                // than taking the whole directory down.
                timezone: timezone.parse().inspect_err(|_| tracing::error!(timezone, "unknown zone")).ok()?,
                api_token_hash: hash.try_into().ok()?,
            })
        })
        .collect())
}

/// All sites, in memory, refreshed in the background and on a miss (at most
/// once per `min_refresh_interval`, so a flood of unknown ids cannot turn into
/// a flood of queries).
#[derive(Clone)]
pub struct SiteDirectory {
    pool: crate::PgPool,
    state: Arc<RwLock<DirectoryState>>,
    min_refresh_interval: Duration,
}

#[derive(Default)]
struct DirectoryState {
    by_id: HashMap<Uuid, Arc<Site>>,
    by_domain: HashMap<String, Arc<Site>>,
    by_token_hash: HashMap<[u8; 32], Arc<Site>>,
    refreshed_at: Option<Instant>,
}

impl SiteDirectory {
    pub fn new(pool: crate::PgPool) -> Self {
        Self { pool, state: Arc::default(), min_refresh_interval: Duration::from_secs(1) }
    }

    /// Reloads every site from Postgres.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let client = self.pool.get().await?;
        let sites = list_sites(&client).await?;
        let mut next = DirectoryState { refreshed_at: Some(Instant::now()), ..Default::default() };
        for site in sites {
            let site = Arc::new(site);
            next.by_domain.insert(site.domain.clone(), site.clone());
            next.by_token_hash.insert(site.api_token_hash, site.clone());
            next.by_id.insert(site.id, site);
        }
        *self.state.write().expect("site directory lock") = next;
        Ok(())
    }

    /// Refreshes every `interval` until `stop` is cancelled.
    pub fn spawn_refresher(
        &self,
        interval: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let directory = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                if let Err(error) = directory.refresh().await {
                    tracing::warn!(error = format!("{error:#}"), "site directory refresh failed");
                }
            }
        })
    }

    /// A site by id or by one of its domains.
    pub async fn resolve(&self, id_or_domain: &str) -> Option<Arc<Site>> {
        self.find(|state| match Uuid::parse_str(id_or_domain) {
            Ok(id) => state.by_id.get(&id).cloned(),
            Err(_) => state.by_domain.get(&id_or_domain.to_ascii_lowercase()).cloned(),
        })
        .await
    }

    /// The site whose API token hashes to `token_hash`, if any.
    pub async fn by_token_hash(&self, token_hash: &[u8; 32]) -> Option<Arc<Site>> {
        self.find(|state| state.by_token_hash.get(token_hash).cloned()).await
    }

    /// Looks up in memory; on a miss, refreshes (rate-limited) and looks again,
    /// so a site created a moment ago is found without waiting for the timer.
    async fn find(&self, lookup: impl Fn(&DirectoryState) -> Option<Arc<Site>>) -> Option<Arc<Site>> {
        if let Some(site) = lookup(&self.state.read().expect("site directory lock")) {
            return Some(site);
        }
        if !self.may_refresh_on_miss() {
            return None;
        }
        if let Err(error) = self.refresh().await {
            tracing::warn!(error = format!("{error:#}"), "site directory refresh failed");
        }
        lookup(&self.state.read().expect("site directory lock"))
    }

    fn may_refresh_on_miss(&self) -> bool {
        let state = self.state.read().expect("site directory lock");
        state.refreshed_at.is_none_or(|at| at.elapsed() >= self.min_refresh_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(normalise_domain(" Example.COM. ").ok().as_deref(), Some("example.com"));
        assert!(normalise_domain("exa mple.com").is_err());
        assert!(normalise_domain("").is_err());
        assert!(normalise_domain("a..b").is_err());
    }

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
