//! The services together against real Redis, RabbitMQ and Postgres: one
//! binary, one module per concern. Each service's own tests are in
//! `services/<service>/tests/`.

mod abuse;
mod aggregator_faults;
mod app_versions;
mod binaries;
mod broker_replies;
mod chaos_faults;
mod comparisons;
mod csv_export;
mod directory_faults;
mod docs;
mod forwarder_faults;
mod hostile_input;
mod hourly;
mod import_django;
mod import_plausible;
mod import_umami;
mod ingest_fuzz;
mod ingest_identity;
mod ingest_rules;
mod kept_events;
mod pipeline;
mod plausible;
mod query_api;
mod ranking;
mod rebuild;
mod stores_tls;
mod umami;
mod visits;

use analytics_e2e::pageviews;
