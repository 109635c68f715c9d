use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Why a whole request was refused. Problems with a single event of a batch
/// are reported per index in the 202 body instead.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// Not JSON we will parse (invalid UTF-8, too deeply nested); names why.
    #[error("{0}")]
    InvalidBody(String),
    #[error("body: over the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("events: {count} events, at most {max} per request")]
    TooManyEvents { count: usize, max: usize },
    #[error("Idempotency-Key: 1 to 128 visible ASCII characters")]
    BadIdempotencyKey,
    #[error("site: unknown site {0:?}")]
    UnknownSite(String),
    /// The one event of a single-event protocol was invalid; the message names the field.
    #[error("{0}")]
    Rejected(String),
    #[error("X-Ingest-Key: not a valid ingest key")]
    BadIngestKey,
    #[error("queue is over its high-water mark, retry later")]
    Backpressure,
    #[error("queue unavailable, retry later")]
    Unavailable,
    #[error("reading the request body: {0}")]
    Body(String),
    #[error("body: not received within {0:?}")]
    BodyTimeout(std::time::Duration),
    #[error("too many requests from this client, retry later")]
    RateLimited(std::time::Duration),
    #[error("Idempotency-Key: already used for a request with another body")]
    IdempotencyConflict,
}

impl IngestError {
    /// Seconds a client should wait before retrying a 503.
    fn retry_after(&self) -> Option<u64> {
        match self {
            IngestError::Backpressure => Some(5),
            IngestError::Unavailable => Some(1),
            IngestError::RateLimited(wait) => Some(analytics_telemetry::retry_after_seconds(*wait)),
            _ => None,
        }
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::MalformedJson(_)
            | IngestError::InvalidBody(_)
            | IngestError::Body(_)
            | IngestError::BadIdempotencyKey => StatusCode::BAD_REQUEST,
            IngestError::PayloadTooLarge { .. } | IngestError::TooManyEvents { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::BadIngestKey => StatusCode::UNAUTHORIZED,
            IngestError::UnknownSite(_) => StatusCode::NOT_FOUND,
            IngestError::Rejected(_) => StatusCode::BAD_REQUEST,
            IngestError::Backpressure | IngestError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            IngestError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            IngestError::IdempotencyConflict => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(seconds) = self.retry_after() {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}
