//! Query: the dashboard API the admin panel reads. Every number comes from the
//! aggregator's rollups; ranges are local days in the site's own time zone.

mod auth;
mod error;
mod routes;
mod settings;
mod startup;

pub use settings::{QuerySettings, Settings};
pub use startup::Application;
