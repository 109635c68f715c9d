//! Realistic demo traffic: visitors with real user agents and addresses
//! browse a set of pages with titles and referrers, through `POST /v1/events`
//! with the ingest key (as a server-side integration would), so that visitor
//! counts behave like real ones.

use std::time::{Duration, Instant};

use rand::Rng;
use rand::seq::IndexedRandom;

#[derive(clap::Args)]
pub struct Args {
    /// Ingest base URL.
    #[arg(long, env = "INGEST_URL", default_value = "http://127.0.0.1:8081")]
    ingest_url: String,
    /// Site id or domain.
    #[arg(long, env = "DEMO_SITE")]
    site: String,
    /// Ingest key, so each event can carry its own visitor address and user agent.
    #[arg(long, env = "INGEST_KEY")]
    ingest_key: Option<String>,
    /// Events per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Stop after this many events (default: run until interrupted).
    #[arg(long)]
    count: Option<u64>,
    /// Distinct visitors to draw from.
    #[arg(long, default_value_t = 500)]
    visitors: u32,
    /// Instead of sending traffic, write this many days of rollups ending
    /// today straight into Postgres, through the aggregator's upsert path.
    #[arg(long)]
    backfill_days: Option<u32>,
    /// With --backfill-days: pageviews per day.
    #[arg(long, default_value_t = 1_000_000)]
    pageviews_per_day: u64,
}

/// `--backfill-days`: a history of rollups for demos and benchmarks.
async fn backfill(args: &Args, days: u32, postgres: &analytics_config::PostgresSettings) -> anyhow::Result<()> {
    let client = analytics_store::connect(postgres.url()).await?;
    let sites = analytics_store::sites::list_sites(&client).await?;
    let site = sites
        .iter()
        .find(|s| s.id.to_string() == args.site || s.domain == args.site)
        .ok_or_else(|| anyhow::anyhow!("site {:?} not found", args.site))?;
    let pool = analytics_store::pg_pool(postgres)?;
    let spec = analytics_aggregator::backfill::BackfillSpec {
        days,
        pageviews_per_day: args.pageviews_per_day,
        pages: 5_000,
        countries: 150,
        visitors_per_day: args.pageviews_per_day / 5,
    };
    let today = chrono::Utc::now().with_timezone(&site.timezone).date_naive();
    let started = Instant::now();
    let rows = analytics_aggregator::backfill::backfill(&pool, site.id, today, &spec).await?;
    println!("{}", serde_json::json!({ "days": days, "rows": rows, "seconds": started.elapsed().as_secs_f64() }));
    Ok(())
}

const PAGES: &[(&str, &str)] = &[
    ("/", "Home"),
    ("/products", "Products"),
    ("/products/espresso-machine", "Espresso machine"),
    ("/products/grinder", "Burr grinder"),
    ("/blog", "Blog"),
    ("/blog/how-to-brew", "How to brew"),
    ("/about", "About us"),
    ("/contact", "Contact"),
    ("/fa/", "خانه"),
    ("/pricing", "Pricing"),
];

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Dart/3.4 (dart:io)",
];

const REFERRERS: &[&str] = &["", "", "https://www.google.com/", "https://t.me/", "https://news.ycombinator.com/"];

pub async fn run(args: Args, postgres: &analytics_config::PostgresSettings) -> anyhow::Result<()> {
    if let Some(days) = args.backfill_days {
        return backfill(&args, days, postgres).await;
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let url = format!("{}/v1/events", args.ingest_url.trim_end_matches('/'));
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.1));
    let batch_size = (args.rate / 10.0).ceil().clamp(1.0, 100.0) as u64;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut refused = 0u64;
    loop {
        let n = match args.count {
            Some(count) if sent >= count => break,
            Some(count) => batch_size.min(count - sent),
            None => batch_size,
        };
        let events: Vec<serde_json::Value> = (0..n).map(|_| random_event(&args)).collect();
        let mut request = client.post(&url).json(&serde_json::json!({ "events": events }));
        if let Some(key) = &args.ingest_key {
            request = request.header("X-Ingest-Key", key);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => sent += n,
            Ok(response) => {
                refused += n;
                let status = response.status();
                tracing::warn!(%status, body = response.text().await.unwrap_or_default(), "ingest refused a batch");
            }
            Err(error) => {
                refused += n;
                tracing::warn!(%error, "ingest unreachable");
            }
        }
        if sent > 0 && sent % 1000 < n {
            eprintln!("simulate: {sent} events sent, {refused} refused, {:.0?} elapsed", started.elapsed());
        }
        // Pace by the clock rather than by sleeps alone, so slow requests don't lower the rate.
        let due = interval.mul_f64((sent + refused) as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    println!("{}", serde_json::json!({ "sent": sent, "refused": refused }));
    anyhow::ensure!(refused == 0, "{refused} events were refused");
    Ok(())
}

fn random_event(args: &Args) -> serde_json::Value {
    let mut rng = rand::rng();
    let visitor = rng.random_range(0..args.visitors.max(1));
    let (path, title) = PAGES.choose(&mut rng).copied().unwrap_or(("/", "Home"));
    let user_agent = USER_AGENTS[visitor as usize % USER_AGENTS.len()];
    let mut event = serde_json::json!({
        "site": args.site,
        "type": "pageview",
        "path": path,
        "title": title,
        "referrer": REFERRERS.choose(&mut rng).copied().unwrap_or_default(),
    });
    if args.ingest_key.is_some() {
        event["ip"] = visitor_address(u64::from(visitor)).into();
        event["user_agent"] = user_agent.into();
    }
    if user_agent.starts_with("Dart/") {
        // The mobile app's API calls, as the Django middleware reports them:
        // under /api/, with the platform and version the app sends in headers.
        event["source"] = "app".into();
        event["path"] = format!("/api{path}").into();
        let platform = if visitor % 3 == 0 { "ios" } else { "android" };
        let version = if visitor % 4 == 0 { "2.0.3" } else { "2.1.0" };
        event["app"] = serde_json::json!({ "platform": platform, "version": version });
    }
    event
}

/// Public /16 blocks that the bundled country database places in these
/// countries (checked against ip-location-db), weighted like the audience of
/// an Iranian site, so the demo shows countries. Ingest drops the address.
const BLOCKS: [(&str, &str); 14] = [
    ("IR", "2.176"),
    ("IR", "94.182"),
    ("IR", "5.112"),
    ("IR", "78.38"),
    ("IR", "217.218"),
    ("IR", "151.232"),
    ("IR", "37.255"),
    ("US", "104.16"),
    ("US", "8.8"),
    ("DE", "46.4"),
    ("DE", "91.98"),
    ("TR", "88.224"),
    ("FR", "51.15"),
    ("JP", "126.0"),
];

/// One stable address per simulated visitor.
fn visitor_address(visitor: u64) -> String {
    let (_, block) = BLOCKS[visitor as usize % BLOCKS.len()];
    let host = visitor / BLOCKS.len() as u64;
    format!("{block}.{}.{}", host / 250 % 250, host % 250 + 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn visitors_have_distinct_public_addresses() {
        let addresses: std::collections::HashSet<String> = (0..5000).map(super::visitor_address).collect();
        assert_eq!(addresses.len(), 5000);
        assert!(addresses.iter().all(|a| a.parse::<std::net::Ipv4Addr>().is_ok()));
    }

    #[test]
    fn the_apps_visitors_send_app_events_with_platform_and_version() {
        let args = super::Args {
            ingest_url: String::new(),
            site: "demo".into(),
            ingest_key: Some("k".into()),
            rate: 1.0,
            count: None,
            visitors: 60,
            backfill_days: None,
            pageviews_per_day: 0,
        };
        let events: Vec<serde_json::Value> = (0..500).map(|_| super::random_event(&args)).collect();
        let apps: Vec<&serde_json::Value> = events.iter().filter(|e| e["source"] == "app").collect();
        assert!(!apps.is_empty() && apps.len() < events.len(), "some app events among web ones");
        for app in &apps {
            assert!(app["user_agent"].as_str().is_some_and(|ua| ua.starts_with("Dart/")));
            assert!(app["path"].as_str().is_some_and(|p| p.starts_with("/api/")));
            assert!(["ios", "android"].contains(&app["app"]["platform"].as_str().unwrap_or_default()));
            assert!(app["app"]["version"].is_string());
        }
        assert!(events.iter().filter(|e| e["source"] != "app").all(|e| e.get("app").is_none()));
    }

    #[test]
    fn pages_have_titles() {
        assert!(super::PAGES.iter().all(|(path, title)| path.starts_with('/') && !title.is_empty()));
    }
}
