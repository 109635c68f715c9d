//! The registry of tracked sites: created by `analytics-ctl site add`, read by
//! every service through a [`SiteDirectory`] (see `directory.rs`) that holds
//! them in memory, so no event or dashboard request costs a database round
//! trip to resolve its site.

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
    #[serde(flatten)]
    pub rules: SiteRules,
    /// Key of the keyed hash that turns an app's install id into a visitor id.
    #[serde(skip)]
    pub install_secret: [u8; 32],
    /// A visit ends after this long without an event.
    pub visit_gap_minutes: i32,
}

/// What ingest counts for a site (`analytics-ctl site set`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SiteRules {
    /// Hostnames whose pages count, each with its subdomains; empty: any.
    pub hostnames: Vec<String>,
    /// Path prefixes never counted.
    pub excluded_paths: Vec<String>,
    /// Whether signed-in users count; false: only guests.
    pub count_authenticated: bool,
}

/// Why a site's rules leave an event uncounted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exclusion {
    Hostname,
    Path,
    Authenticated,
}

impl SiteRules {
    /// `None` when an event on `hostname` + `path` by a user who is (or is not)
    /// `authenticated` counts. An empty hostname (a server sent a bare path) passes
    /// the allow-list: the server is trusted to send its own site's pages.
    pub fn exclusion(&self, hostname: &str, path: &str, authenticated: bool) -> Option<Exclusion> {
        if authenticated && !self.count_authenticated {
            return Some(Exclusion::Authenticated);
        }
        if !hostname.is_empty()
            && !self.hostnames.is_empty()
            && !self.hostnames.iter().any(|h| host_within(hostname, h))
        {
            return Some(Exclusion::Hostname);
        }
        if self.excluded_paths.iter().any(|prefix| path.starts_with(prefix.as_str())) {
            return Some(Exclusion::Path);
        }
        None
    }
}

/// `hostname` is `allowed` or one of its subdomains (case-insensitive;
/// checked per event, so without allocating).
fn host_within(hostname: &str, allowed: &str) -> bool {
    let Some(split) = hostname.len().checked_sub(allowed.len()) else { return false };
    let suffix_matches = hostname.get(split..).is_some_and(|tail| tail.eq_ignore_ascii_case(allowed));
    suffix_matches && (split == 0 || hostname.as_bytes()[split - 1] == b'.')
}

/// A change to a site's rules; `None` fields stay as they are.
#[derive(Debug, Default)]
pub struct RulesUpdate {
    pub hostnames: Option<Vec<String>>,
    pub excluded_paths: Option<Vec<String>>,
    pub count_authenticated: Option<bool>,
    pub visit_gap_minutes: Option<i32>,
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
    #[error("unknown site {0:?}")]
    UnknownSite(String),
    #[error("invalid excluded path {0:?}: expected a prefix starting with /")]
    BadPath(String),
    #[error("invalid visit gap {0} minutes: expected 1 to 1440")]
    BadVisitGap(i32),
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
    let id = Uuid::now_v7();
    let inserted = client
        .execute(
            "INSERT INTO sites (id, domain, timezone, api_token_hash) VALUES ($1, $2, $3, $4)
             ON CONFLICT (domain) DO NOTHING",
            &[&id, &domain, &tz.name(), &hash_token(&token).as_slice()],
        )
        .await?;
    if inserted == 0 {
        return Err(SiteError::DuplicateDomain(domain));
    }
    // Read back, so the rules are the database's defaults, stated in one place.
    let site = find_site(client, &id.to_string()).await?.ok_or(SiteError::UnknownSite(domain))?;
    Ok((site, token))
}

const SITE_COLUMNS: &str = "id, domain, timezone, api_token_hash, hostnames, excluded_paths, count_authenticated, \
     install_secret, visit_gap_minutes";

pub async fn list_sites(client: &Client) -> Result<Vec<Site>, tokio_postgres::Error> {
    let rows = client.query(&format!("SELECT {SITE_COLUMNS} FROM sites ORDER BY created_at, domain"), &[]).await?;
    Ok(rows.iter().filter_map(site_from_row).collect())
}

/// The site whose API token hashes to `token_hash`, read from the database.
pub async fn find_site_by_token_hash(
    client: &Client,
    token_hash: &[u8; 32],
) -> Result<Option<Site>, tokio_postgres::Error> {
    let sql = format!("SELECT {SITE_COLUMNS} FROM sites WHERE api_token_hash = $1");
    let row = client.query_opt(&sql, &[&token_hash.as_slice()]).await?;
    Ok(row.as_ref().and_then(site_from_row))
}

/// A site by id or domain, read from the database.
pub async fn find_site(client: &Client, id_or_domain: &str) -> Result<Option<Site>, tokio_postgres::Error> {
    let id = Uuid::parse_str(id_or_domain).ok();
    let domain = id_or_domain.trim().to_ascii_lowercase();
    let row = client
        .query_opt(&format!("SELECT {SITE_COLUMNS} FROM sites WHERE id = $1 OR domain = $2"), &[&id, &domain])
        .await?;
    Ok(row.as_ref().and_then(site_from_row))
}

/// The site a command-line argument names (an id or a domain), or an error
/// that says which argument named no site.
pub async fn site_argument(client: &Client, id_or_domain: &str) -> anyhow::Result<Site> {
    find_site(client, id_or_domain)
        .await?
        .ok_or_else(|| anyhow::anyhow!("--site {id_or_domain:?}: no such site (an id or a domain)"))
}

fn site_from_row(row: &tokio_postgres::Row) -> Option<Site> {
    let timezone: String = row.get(2);
    let hash: Vec<u8> = row.get(3);
    let secret: Vec<u8> = row.get(7);
    Some(Site {
        id: row.get(0),
        domain: row.get(1),
        // A zone name this build does not know is skipped (and logged) rather
        // than taking the whole directory down.
        timezone: timezone.parse().inspect_err(|_| tracing::error!(timezone, "unknown zone")).ok()?,
        api_token_hash: hash.try_into().ok()?,
        rules: SiteRules { hostnames: row.get(4), excluded_paths: row.get(5), count_authenticated: row.get(6) },
        install_secret: secret.try_into().ok()?,
        visit_gap_minutes: row.get(8),
    })
}

/// Changes a site's rules; returns the site as it is afterwards. Ingest
/// replicas pick the change up at their next directory refresh.
pub async fn update_rules(client: &Client, id_or_domain: &str, update: RulesUpdate) -> Result<Site, SiteError> {
    let site = find_site(client, id_or_domain).await?.ok_or_else(|| SiteError::UnknownSite(id_or_domain.to_owned()))?;
    let hostnames = update
        .hostnames
        .map(|hosts| hosts.iter().map(|h| normalise_domain(h)).collect::<Result<Vec<_>, _>>())
        .transpose()?
        .unwrap_or(site.rules.hostnames);
    let excluded_paths = match update.excluded_paths {
        Some(paths) => {
            if let Some(bad) = paths.iter().find(|p| !p.starts_with('/')) {
                return Err(SiteError::BadPath(bad.clone()));
            }
            paths
        }
        None => site.rules.excluded_paths,
    };
    let count_authenticated = update.count_authenticated.unwrap_or(site.rules.count_authenticated);
    let visit_gap_minutes = update.visit_gap_minutes.unwrap_or(site.visit_gap_minutes);
    if !(1..=1440).contains(&visit_gap_minutes) {
        return Err(SiteError::BadVisitGap(visit_gap_minutes));
    }
    client
        .execute(
            "UPDATE sites SET hostnames = $2, excluded_paths = $3, count_authenticated = $4, visit_gap_minutes = $5
             WHERE id = $1",
            &[&site.id, &hostnames, &excluded_paths, &count_authenticated, &visit_gap_minutes],
        )
        .await?;
    find_site(client, &site.id.to_string()).await?.ok_or_else(|| SiteError::UnknownSite(id_or_domain.to_owned()))
}

pub use crate::directory::{MISS_LOOKUPS_PER_SECOND, SiteDirectory};

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
    fn rules_exclude_by_user_hostname_and_path() {
        let rules = SiteRules {
            hostnames: vec!["example.com".into()],
            excluded_paths: vec!["/admin/".into()],
            count_authenticated: false,
        };
        assert_eq!(rules.exclusion("example.com", "/", false), None);
        assert_eq!(rules.exclusion("shop.Example.com", "/a", false), None);
        assert_eq!(rules.exclusion("", "/a", false), None, "a bare path from a server passes");
        assert_eq!(rules.exclusion("badexample.com", "/", false), Some(Exclusion::Hostname));
        assert_eq!(rules.exclusion("example.com.evil.net", "/", false), Some(Exclusion::Hostname));
        assert_eq!(rules.exclusion("example.com", "/admin/users", false), Some(Exclusion::Path));
        assert_eq!(rules.exclusion("example.com", "/administrator", false), None);
        assert_eq!(rules.exclusion("example.com", "/", true), Some(Exclusion::Authenticated));
        let everyone = SiteRules { count_authenticated: true, hostnames: vec![], ..rules };
        assert_eq!(everyone.exclusion("anything.net", "/", true), None);
    }

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
