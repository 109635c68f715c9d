//! Every service's view of the sites: all of them in memory, so resolving an
//! event's or a request's site costs no database round trip, and the sites
//! already known keep being served while Postgres is away.
//!
//! Kept fresh three ways. A change to the `sites` table is announced (the
//! trigger of migration V6 NOTIFYs [`CHANNEL`]) and every directory LISTENs,
//! so a new site counts everywhere a moment after `analytics-ctl site add`
//! returns. A periodic reload covers a lost notification. And a miss looks
//! the one name up (one index probe), which also covers the moment between a
//! site's creation and its notification; but a public intake sees random
//! ids, domains and tokens, which must not turn into database load, so:
//! - lookups on a miss are budgeted ([`MISS_LOOKUPS_PER_SECOND`] per process);
//! - after a failed read, they wait out a growing backoff (and never take
//!   longer than [`MISS_LOOKUP_TIMEOUT`]);
//! - a name not found is remembered for a while (a bounded negative cache),
//!   so the same unknown name does not even ask.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use analytics_config::PostgresSettings;
use analytics_telemetry::Check;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use uuid::Uuid;

use crate::sites::{Site, list_sites};

/// The notification channel of changes to `sites` (migration V6).
pub const CHANNEL: &str = "analytics_sites";

/// Lookups of a missed name per second per process, and at once.
pub const MISS_LOOKUPS_PER_SECOND: f64 = 2.0;
const MISS_LOOKUP_BURST: f64 = 5.0;
/// A lookup on a miss answers within this, or the name counts as unknown.
pub const MISS_LOOKUP_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a name that was not found is answered as unknown without asking.
const NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// Most names remembered as unknown; when full, the expired ones go, then all.
const NEGATIVE_CAPACITY: usize = 10_000;
/// Longer than any site id, domain or token hash: unknown without asking.
const MAX_NAME_LEN: usize = 300;

#[derive(Clone)]
pub struct SiteDirectory {
    pool: crate::PgPool,
    postgres: PostgresSettings,
    state: Arc<RwLock<DirectoryState>>,
    /// Held while the sites are read: one read at a time.
    reload: Arc<tokio::sync::Mutex<()>>,
    /// Lookups of missed names, and when reads may be tried again.
    lookups: Arc<MissLookups>,
    /// Names recently not found, with when.
    misses: Arc<Mutex<HashMap<String, Instant>>>,
}

/// A name to look up on a miss.
#[derive(Clone, Copy)]
enum Name<'a> {
    IdOrDomain(&'a str),
    TokenHash(&'a [u8; 32]),
}

struct MissLookups {
    budget: analytics_telemetry::RateLimiter<()>,
    /// Failed reads in a row, and when the last one failed.
    failures: Mutex<(u32, Option<Instant>)>,
}

impl MissLookups {
    fn record(&self, worked: bool) {
        let mut failures = self.failures.lock().expect("failure lock");
        *failures = if worked { (0, None) } else { (failures.0.saturating_add(1), Some(Instant::now())) };
    }

    /// After failed reads, a backoff from 200 ms doubling to 30 s.
    fn backing_off(&self) -> bool {
        let (count, last) = *self.failures.lock().expect("failure lock");
        let wait = Duration::from_millis(100u64.saturating_mul(1 << count.min(9))).min(Duration::from_secs(30));
        count > 0 && last.is_some_and(|at| at.elapsed() < wait)
    }
}

#[derive(Default)]
struct DirectoryState {
    by_id: HashMap<Uuid, Arc<Site>>,
    by_domain: HashMap<String, Arc<Site>>,
    by_token_hash: HashMap<[u8; 32], Arc<Site>>,
    /// When (Unix ms) the read that filled this state began: every site
    /// created before then is in it. 0 until the first read.
    read_from_ms: i64,
    /// Counts reads, so a caller can tell whether one happened meanwhile.
    generation: u64,
}

impl DirectoryState {
    fn by_id_or_domain(&self, id_or_domain: &str) -> Option<Arc<Site>> {
        match Uuid::parse_str(id_or_domain) {
            Ok(id) => self.by_id.get(&id).cloned(),
            Err(_) => self.by_domain.get(&id_or_domain.to_ascii_lowercase()).cloned(),
        }
    }
}

impl SiteDirectory {
    pub fn new(pool: crate::PgPool, postgres: &PostgresSettings) -> Self {
        let lookups = MissLookups {
            budget: analytics_telemetry::RateLimiter::new(MISS_LOOKUPS_PER_SECOND, MISS_LOOKUP_BURST),
            failures: Mutex::default(),
        };
        Self {
            pool,
            postgres: postgres.clone(),
            state: Arc::default(),
            reload: Arc::default(),
            lookups: Arc::new(lookups),
            misses: Arc::default(),
        }
    }

    /// Reads every site from Postgres now (after a read already running).
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let _one_at_a_time = self.reload.lock().await;
        let result = self.read_all().await;
        self.lookups.record(result.is_ok());
        result
    }

    async fn read_all(&self) -> anyhow::Result<()> {
        let client = self.pool.get().await?;
        let read_from_ms = chrono::Utc::now().timestamp_millis();
        let sites = list_sites(&client).await?;
        let generation = self.state.read().expect("site directory lock").generation + 1;
        let mut next = DirectoryState { read_from_ms, generation, ..Default::default() };
        for site in sites {
            let site = Arc::new(site);
            next.by_domain.insert(site.domain.clone(), site.clone());
            next.by_token_hash.insert(site.api_token_hash, site.clone());
            next.by_id.insert(site.id, site);
        }
        *self.state.write().expect("site directory lock") = next;
        Ok(())
    }

    /// Whether the sites were read at least once: from then on they are
    /// served from memory whatever happens to Postgres.
    pub fn loaded(&self) -> bool {
        self.state.read().expect("site directory lock").generation > 0
    }

    /// A site by id or by one of its domains.
    pub async fn resolve(&self, id_or_domain: &str) -> Option<Arc<Site>> {
        let name = id_or_domain.to_ascii_lowercase();
        self.find(&name, Name::IdOrDomain(&name), |state| state.by_id_or_domain(&name)).await
    }

    /// A site by id or domain as last read, without going to Postgres.
    pub fn cached(&self, id_or_domain: &str) -> Option<Arc<Site>> {
        self.state.read().expect("site directory lock").by_id_or_domain(id_or_domain)
    }

    /// Whether the sites in memory were read after `moment_ms` (Unix ms):
    /// then a site missing from them did not exist at that moment either.
    pub fn read_after(&self, moment_ms: i64) -> bool {
        self.state.read().expect("site directory lock").read_from_ms > moment_ms
    }

    /// The site whose API token hashes to `token_hash`, if any.
    pub async fn by_token_hash(&self, token_hash: &[u8; 32]) -> Option<Arc<Site>> {
        let name = hex::encode(token_hash);
        self.find(&name, Name::TokenHash(token_hash), |state| state.by_token_hash.get(token_hash).cloned()).await
    }

    /// Looks up in memory; on a miss, asks Postgres for this one name when
    /// the rules of the module docs allow, and keeps what it finds. `key`
    /// keys the negative cache.
    async fn find(
        &self,
        key: &str,
        name: Name<'_>,
        in_memory: impl Fn(&DirectoryState) -> Option<Arc<Site>>,
    ) -> Option<Arc<Site>> {
        if let Some(site) = in_memory(&self.state.read().expect("site directory lock")) {
            return Some(site);
        }
        // A name with a NUL byte is no site's (Postgres cannot even be asked
        // for it: the read would fail, and failed reads back lookups off).
        let impossible = key.len() > MAX_NAME_LEN || key.contains('\0');
        if impossible || self.recently_missed(key) || self.lookups.backing_off() {
            return None;
        }
        if self.lookups.budget.check(()).is_err() {
            self.remember_miss(key);
            return None;
        }
        let looked_up = tokio::time::timeout(MISS_LOOKUP_TIMEOUT, self.look_up(name))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {MISS_LOOKUP_TIMEOUT:?}")));
        self.lookups.record(looked_up.is_ok());
        match looked_up {
            Ok(Some(site)) => Some(self.keep(site)),
            Ok(None) => {
                self.remember_miss(key);
                None
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "looking up a site failed");
                None
            }
        }
    }

    async fn look_up(&self, name: Name<'_>) -> anyhow::Result<Option<Site>> {
        let client = self.pool.get().await?;
        let site = match name {
            Name::IdOrDomain(id_or_domain) => crate::sites::find_site(&client, id_or_domain).await?,
            Name::TokenHash(hash) => crate::sites::find_site_by_token_hash(&client, hash).await?,
        };
        Ok(site)
    }

    /// Adds a site found by a lookup to those in memory (the next read of
    /// them all brings it too).
    fn keep(&self, site: Site) -> Arc<Site> {
        let site = Arc::new(site);
        let mut state = self.state.write().expect("site directory lock");
        state.by_domain.insert(site.domain.clone(), site.clone());
        state.by_token_hash.insert(site.api_token_hash, site.clone());
        state.by_id.insert(site.id, site.clone());
        site
    }

    fn recently_missed(&self, name: &str) -> bool {
        let misses = self.misses.lock().expect("miss cache lock");
        misses.get(name).is_some_and(|at| at.elapsed() < NEGATIVE_TTL)
    }

    fn remember_miss(&self, name: &str) {
        let mut misses = self.misses.lock().expect("miss cache lock");
        if misses.len() >= NEGATIVE_CAPACITY {
            misses.retain(|_, at| at.elapsed() < NEGATIVE_TTL);
            if misses.len() >= NEGATIVE_CAPACITY {
                misses.clear();
            }
        }
        misses.insert(name.to_owned(), Instant::now());
    }

    /// Forgets the names recently not found: the sites changed.
    fn forget_misses(&self) {
        self.misses.lock().expect("miss cache lock").clear();
    }

    /// Keeps the sites fresh until `stop`: reads them when the table
    /// announces a change, every `interval` otherwise, and at once after
    /// (re)connecting the listener, since changes may have gone unheard.
    pub fn spawn_watcher(
        &self,
        interval: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let directory = self.clone();
        tokio::spawn(async move {
            let mut backoff = analytics_telemetry::Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
            loop {
                let outcome = directory.listen(interval, &stop).await;
                if stop.is_cancelled() {
                    return;
                }
                if let Err(error) = outcome {
                    tracing::warn!(error = format!("{error:#}"), retry_in = ?backoff.next(), "site change listener stopped");
                }
                if !backoff.wait(&stop).await {
                    return;
                }
            }
        })
    }

    /// One listener connection's life: LISTEN, then read on every
    /// notification and every tick, until the connection fails or `stop`.
    async fn listen(&self, interval: Duration, stop: &tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
        let (client, mut connection) = crate::connect_raw(self.postgres.url()).await?;
        let changed = Arc::new(Notify::new());
        let mut driver = tokio::spawn({
            let changed = changed.clone();
            async move {
                loop {
                    match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        Some(Ok(AsyncMessage::Notification(_))) => changed.notify_one(),
                        Some(Ok(_)) => {}
                        Some(Err(error)) => return Err(anyhow::Error::from(error)),
                        None => return Ok(()),
                    }
                }
            }
        });
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        let mut tick = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                ended = &mut driver => {
                    ended??;
                    anyhow::bail!("the listener connection closed");
                }
                // The first tick is at once: whatever changed while nobody listened.
                _ = tick.tick() => self.refresh_logged().await,
                _ = changed.notified() => {
                    self.refresh_logged().await;
                    self.forget_misses();
                }
            }
        }
    }

    async fn refresh_logged(&self) {
        if let Err(error) = self.refresh().await {
            tracing::warn!(error = format!("{error:#}"), "site directory refresh failed");
        }
    }

    /// Readiness of a service that needs the sites: Postgres answering; or,
    /// once the sites were read, `Degraded` while it does not (the sites
    /// known are served from memory).
    pub async fn readiness(self) -> Check {
        // Within readiness' own deadline, so a hanging Postgres reads as degraded too.
        let probe = tokio::time::timeout(Duration::from_millis(800), crate::pg_probe(self.pool.clone()));
        match probe.await.unwrap_or_else(|_| Err("postgres: no answer within 800 ms".to_owned())) {
            Ok(()) => Check::Ok,
            Err(reason) if self.loaded() => Check::Degraded(format!("{reason}; serving the sites read before")),
            Err(reason) => Check::Failed(format!("{reason}; the sites were never read")),
        }
    }
}
