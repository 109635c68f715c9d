//! One module per intake protocol; they all end in [`enqueue`].

mod body;
pub mod native;
pub mod plausible;
pub mod script;
pub mod umami;

use actix_web::{HttpRequest, HttpResponse};
use analytics_events::Message;
pub use body::{parse_json, read_body};
use chrono::{DateTime, Utc};

use crate::error::IngestError;
use crate::event::Draft;
use crate::metrics::outcome;
use crate::queue::Pushed;
use crate::startup::AppState;

/// Pushes encoded events and counts what became of them. Returns only after
/// Redis confirmed the write, so the caller may then answer 2xx.
pub async fn enqueue(
    state: &AppState,
    encoded: Vec<Vec<u8>>,
    idempotency_key: Option<&str>,
) -> Result<(), IngestError> {
    let count = encoded.len();
    match state.queue.push(encoded, idempotency_key).await {
        Ok(Pushed::Stored) => state.metrics.count(outcome::ACCEPTED, count),
        // A retry of a request already stored: same answer, nothing added.
        Ok(Pushed::AlreadyStored) => state.metrics.count(outcome::DUPLICATE, count),
        Err(error) => {
            let reason = match error {
                IngestError::Backpressure => outcome::BACKPRESSURE,
                _ => outcome::UNAVAILABLE,
            };
            state.metrics.count(reason, count);
            return Err(error);
        }
    }
    Ok(())
}

/// The encoded event when `draft` counts; otherwise `None`, the reason counted.
pub fn admit(state: &AppState, draft: Draft, salt: &[u8; 32]) -> Option<Vec<u8>> {
    match draft.admit(salt, &state.countries) {
        // Cleaning caps every field, so this holds; checked all the same,
        // since every later hop sizes its buffers by it.
        Ok(event) if event.encoded_len() > analytics_events::clean::limits::EVENT_BYTES => {
            state.metrics.count(outcome::INVALID, 1);
            None
        }
        Ok(event) => Some(event.encode_to_vec()),
        Err(reason) => {
            state.metrics.count(reason, 1);
            None
        }
    }
}

/// CORS preflight of every intake route: trackers post from any origin. The
/// answers themselves carry `Access-Control-Allow-Origin: *` (see startup).
pub async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Access-Control-Allow-Methods", "POST, OPTIONS"))
        .insert_header(("Access-Control-Allow-Headers", "Content-Type, x-umami-cache, Idempotency-Key"))
        .insert_header(("Access-Control-Max-Age", "86400"))
        .finish()
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
