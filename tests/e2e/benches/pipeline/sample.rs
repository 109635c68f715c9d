//! Realistic events for benchmarks, encoded exactly as ingest encodes them,
//! with the cardinality of a real site: 1,000 pages, 100 countries, 200
//! distinct user agents (so the aggregator's parse cache is really exercised),
//! three sources and 20,000 visitors.

use analytics_events::{Event, EventType, Message, Source, Timing};

const UA_TEMPLATES: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v}.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
];

pub const PAGES: usize = 1000;
pub const COUNTRIES: usize = 100;
pub const USER_AGENTS: usize = 200;

pub fn user_agent(i: usize) -> String {
    let template = UA_TEMPLATES[i % UA_TEMPLATES.len()];
    template.replace("{v}", &(60 + (i % USER_AGENTS) / UA_TEMPLATES.len()).to_string())
}

fn country(i: usize) -> String {
    let n = (i * 7) % COUNTRIES;
    format!("{}{}", (b'A' + (n / 26) as u8) as char, (b'A' + (n % 26) as u8) as char)
}

pub fn encoded_events(site_id: &str, n: usize) -> Vec<Vec<u8>> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    (0..n)
        .map(|i| {
            let app = i % 10 == 0;
            Event {
                site_id: site_id.to_owned(),
                r#type: if i % 20 == 1 { EventType::Custom } else { EventType::Pageview } as i32,
                name: if i % 20 == 1 { "signup".into() } else { String::new() },
                timestamp_ms: now - (i as i64 % 3_600_000),
                hostname: "shop.example.com".into(),
                path: format!("/products/item-{}", (i * 13) % PAGES),
                title: format!("Product {} | Shop", (i * 13) % PAGES),
                referrer: if i % 3 == 0 { "https://www.google.com/".into() } else { String::new() },
                source: if app { Source::App } else { Source::Web } as i32,
                user_agent: if app { "Dart/3.4 (dart:io)".into() } else { user_agent(i * 31) },
                app_platform: if app { "android".into() } else { String::new() },
                country: country(i),
                visitor_id: (i as u64 % 20_000).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                timing: Some(Timing { response_ms: Some(40 + (i % 200) as u32), ..Default::default() }),
                received_ms: now,
                ..Default::default()
            }
            .encode_to_vec()
        })
        .collect()
}
