//! One module per intake protocol; they all end in [`enqueue`].

mod body;
pub mod native;
pub mod plausible;
pub mod umami;

use actix_web::HttpRequest;
pub use body::read_body;
use chrono::{DateTime, Utc};

use crate::error::IngestError;
use crate::metrics::outcome;
use crate::queue::Pushed;
use crate::startup::AppState;

/// Pushes encoded events and counts what became of them. Returns only after
/// Redis confirmed the write, so the caller may then answer 2xx.
pub async fn enqueue(state: &AppState, encoded: &[Vec<u8>], idempotency_key: Option<&str>) -> Result<(), IngestError> {
    match state.queue.push(encoded, idempotency_key).await {
        Ok(Pushed::Stored) => state.metrics.count(outcome::ACCEPTED, encoded.len()),
        // A retry of a request already stored: same answer, nothing added.
        Ok(Pushed::AlreadyStored) => state.metrics.count(outcome::DUPLICATE, encoded.len()),
        Err(error) => {
            let reason = match error {
                IngestError::Backpressure => outcome::BACKPRESSURE,
                _ => outcome::UNAVAILABLE,
            };
            state.metrics.count(reason, encoded.len());
            return Err(error);
        }
    }
    state.metrics.push_size.observe(encoded.len() as f64);
    Ok(())
}

/// The visitor-hash salt of `now`'s day; without it no event can be accepted.
pub async fn salt(state: &AppState, now: DateTime<Utc>) -> Result<[u8; 32], IngestError> {
    state.identity.salt(now).await.map_err(|error| {
        tracing::warn!(%error, "reading the visitor salt failed");
        IngestError::Unavailable
    })
}

pub fn header(request: &HttpRequest, name: &str) -> String {
    request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}
