//! Integration tests against real Redis, RabbitMQ and Postgres: one binary
//! for the whole workspace, one module per concern.

mod abuse;
mod aggregator;
mod aggregator_faults;
mod binaries;
mod chaos_faults;
mod directory_faults;
mod forwarder_faults;
mod hostile_input;
mod ingest_fuzz;
mod ingest_identity;
mod ingest_input;
mod ingest_rules;
mod pipeline;
mod plausible;
mod query_api;
mod query_auth;
mod retention;
mod stores_tls;
mod umami;
mod visits;

fn pageviews(site: &str, n: usize) -> serde_json::Value {
    let events: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({ "site": site, "type": "pageview", "url": format!("https://shop.example/p/{}", i % 7) }))
        .collect();
    serde_json::json!({ "events": events })
}
