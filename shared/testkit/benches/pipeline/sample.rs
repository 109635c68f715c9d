//! Realistic events for benchmarks: many pages, countries, user agents and
//! visitors, encoded exactly as ingest encodes them.

use analytics_events::{Event, EventType, Message, Source, Timing};

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
];
const COUNTRIES: [&str; 10] = ["IR", "DE", "US", "GB", "FR", "TR", "AE", "CA", "NL", "IN"];

pub fn encoded_events(site_id: &str, n: usize) -> Vec<Vec<u8>> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    (0..n)
        .map(|i| {
            Event {
                site_id: site_id.to_owned(),
                r#type: EventType::Pageview as i32,
                timestamp_ms: now - (i as i64 % 3_600_000),
                hostname: "shop.example.com".into(),
                path: format!("/products/item-{}", i % 1000),
                title: format!("Product {} | Shop", i % 1000),
                referrer: "https://www.google.com/".into(),
                source: Source::Web as i32,
                user_agent: USER_AGENTS[i % USER_AGENTS.len()].into(),
                country: COUNTRIES[i % COUNTRIES.len()].into(),
                visitor_id: (i as u64 % 20_000).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                timing: Some(Timing { response_ms: Some(40 + (i % 200) as u32), ttfb_ms: None, load_ms: None }),
                received_ms: now,
                ..Default::default()
            }
            .encode_to_vec()
        })
        .collect()
}
