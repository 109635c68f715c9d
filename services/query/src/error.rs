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
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<tokio_postgres::Error> for QueryError {
    fn from(error: tokio_postgres::Error) -> Self {
        QueryError::Internal(error.into())
    }
}

impl ResponseError for QueryError {
    fn status_code(&self) -> StatusCode {
        match self {
            QueryError::Unauthorized => StatusCode::UNAUTHORIZED,
            QueryError::Forbidden(_) | QueryError::AdminOnly => StatusCode::FORBIDDEN,
            QueryError::UnknownSite(_) => StatusCode::NOT_FOUND,
            QueryError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            QueryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let QueryError::Internal(error) = self {
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
        HttpResponse::build(self.status_code()).json(serde_json::json!({ "error": self.to_string() }))
    }
}
