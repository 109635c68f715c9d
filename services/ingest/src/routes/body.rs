use actix_web::web;
use futures_util::StreamExt;

use crate::error::IngestError;

/// Reads the whole body, refusing early (413) once it passes `limit`, so an
/// oversized or endless body costs at most `limit` bytes of memory.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, IngestError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| IngestError::Body(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(IngestError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
