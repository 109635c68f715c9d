//! Query: the dashboard API the admin panel reads. Every number comes from the
//! aggregator's rollups; ranges are local days in the site's own time zone.

mod api;
mod auth;
mod cache;
mod calendar;
mod countries;
mod csv;
mod error;
mod figures;
mod filters;
mod funnel;
mod kept;
mod params;
mod persian;
mod routes;
mod settings;
mod speed;
mod startup;
mod stats;

pub use api::ApiDoc;
pub use filters::TOKENS as EVENT_TOKENS;
pub use params::{DayRange, MonthSplit};
pub use routes::table::Endpoint;
pub use settings::{QuerySettings, Settings};
pub use startup::{Application, Clock};
