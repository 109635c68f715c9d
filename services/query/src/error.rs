use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Every way a dashboard request can fail, each with one status code and a
/// one-line JSON error naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("missing or invalid Bearer token")]
    Unauthorized,
    #[error("this token does not give access to site {0:?}")]
    Forbidden(String),
    #[error("this route needs the admin token")]
    AdminOnly,
    #[error("site: unknown site {0:?}")]
    UnknownSite(String),
    #[error("{name}: {reason}")]
    BadParameter { name: &'static str, reason: String },
    #[error("{0}: unknown parameter")]
    UnknownParameter(String),
    #[error("too many requests with this token, retry later")]
    RateLimited(std::time::Duration),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<tokio_postgres::Error> for QueryError {
    fn from(error: tokio_postgres::Error) -> Self {
        QueryError::Internal(error.into())
    }
}

impl QueryError {
    /// The 400 for a query string that does not parse into the parameters:
    /// an unknown name says which (the rest say what the parser said).
    /// The error of a query string that does not fit [`crate::params::Params`].
    pub fn from_query(message: &str) -> Self {
        let unknown = message
            .split_once("unknown field `")
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(name, _)| analytics_events::clean::truncate(name, 64).escape_debug().to_string());
        match unknown {
            Some(name) => QueryError::UnknownParameter(name),
            None => QueryError::BadParameter { name: "query", reason: message.to_owned() },
        }
    }
}

impl ResponseError for QueryError {
    fn status_code(&self) -> StatusCode {
        match self {
            QueryError::Unauthorized => StatusCode::UNAUTHORIZED,
            QueryError::Forbidden(_) | QueryError::AdminOnly => StatusCode::FORBIDDEN,
            QueryError::UnknownSite(_) => StatusCode::NOT_FOUND,
            QueryError::BadParameter { .. } | QueryError::UnknownParameter(_) => StatusCode::BAD_REQUEST,
            QueryError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            QueryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let QueryError::Internal(error) = self {
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let QueryError::RateLimited(wait) = self {
            response.insert_header(("Retry-After", analytics_telemetry::retry_after_seconds(*wait).to_string()));
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}
