//! One module per intake protocol; they all end in [`enqueue`].

mod body;
pub mod native;
pub mod plausible;
pub mod script;
pub mod umami;

use actix_web::{HttpRequest, HttpResponse};
use analytics_events::Message;
pub use body::parse_json;
use chrono::{DateTime, Utc};

use crate::error::IngestError;
use crate::event::Draft;
use crate::metrics::outcome;
use crate::queue::{Idempotency, Pushed};
use crate::startup::AppState;

/// The start of every intake request: the caller within its rate (a
/// server with the ingest key has a bucket of its own, any other client one
/// per address), then the whole body, within its size and time limits.
pub async fn read_request(
    state: &AppState,
    request: &HttpRequest,
    payload: actix_web::web::Payload,
    server_side: bool,
) -> Result<actix_web::web::BytesMut, IngestError> {
    let within_rate = if server_side {
        state.limits.keyed.check(())
    } else {
        match state.client_address.of(request) {
            Some(ip) => state.limits.per_address.check(ip),
            None => Ok(()),
        }
    };
    if let Err(wait) = within_rate {
        state.metrics.rate_limited.inc();
        return Err(IngestError::RateLimited(wait));
    }
    let deadline = std::time::Duration::from_millis(state.settings.body_timeout_ms);
    body::read_body(payload, state.settings.max_body_bytes, deadline).await
}

/// Pushes encoded events and counts what became of them. Returns only after
/// Redis confirmed the write, so the caller may then answer 2xx.
pub async fn enqueue(
    state: &AppState,
    encoded: Vec<Vec<u8>>,
    idempotency: Option<&Idempotency>,
) -> Result<(), IngestError> {
    let count = encoded.len();
    match state.queue.push(encoded, idempotency).await {
        Ok(Pushed::Stored) => state.metrics.count(outcome::ACCEPTED, count),
        // A retry of a request already stored: same answer, nothing added.
        Ok(Pushed::AlreadyStored) => state.metrics.count(outcome::DUPLICATE, count),
        Err(error) => {
            let reason = match error {
                IngestError::Backpressure => outcome::BACKPRESSURE,
                IngestError::IdempotencyConflict => outcome::INVALID,
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
    match draft.admit(salt, &state.countries).map(|event| event.encode_to_vec()) {
        // Cleaning caps every field, so this holds; checked all the same,
        // since every later hop sizes its buffers by it.
        Ok(encoded) if encoded.len() > analytics_events::clean::limits::EVENT_BYTES => {
            state.metrics.count(outcome::INVALID, 1);
            None
        }
        Ok(encoded) => Some(encoded),
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
