//! One module per dashboard endpoint.

pub mod overview;

use crate::error::QueryError;

/// The `site` query parameter, required on every site endpoint.
pub fn require_site(site: &Option<String>) -> Result<&str, QueryError> {
    site.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(QueryError::BadParameter { name: "site", reason: "required (a site id or domain)".into() })
}
