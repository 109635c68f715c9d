//! Ingest: the public HTTP intake. It validates events, resolves their site,
//! turns the client's IP and user agent into a visitor hash (the IP goes no
//! further than this process), and pushes protobuf events onto the Redis list.
//! A sender gets 2xx only after Redis has stored the event.

mod client;
mod error;
mod event;
mod geo;
mod identity;
mod metrics;
mod normalise;
mod queue;
mod routes;
mod settings;
mod startup;

pub use settings::{IngestSettings, Settings};
pub use startup::Application;
