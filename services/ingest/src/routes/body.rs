use actix_web::web;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::IngestError;

/// Deepest nesting of objects and arrays a body may have. Every protocol's
/// deepest field is at 4 (`events[].props.key`); the margin is for
/// unknown-but-ignored fields, not for arbitrarily deep documents.
const MAX_JSON_DEPTH: usize = 10;

/// Reads the whole body, refusing early (413) once it passes `limit`, so an
/// oversized or endless body costs at most `limit` bytes of memory, and
/// within `deadline` (408), so a client trickling it cannot hold it open.
pub async fn read_body(
    mut payload: web::Payload,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<web::BytesMut, IngestError> {
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| IngestError::Body(e.to_string()))?;
            if body.len() + chunk.len() > limit {
                return Err(IngestError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(deadline, read).await.unwrap_or(Err(IngestError::BodyTimeout(deadline)))
}

/// Parses a JSON body, whatever its content type, naming what is wrong:
/// invalid UTF-8 (with its offset), nesting past [`MAX_JSON_DEPTH`], or the
/// parser's own message for anything else.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, IngestError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| IngestError::InvalidBody(format!("body: invalid UTF-8 at byte {}", e.valid_up_to())))?;
    if nesting_depth(text) > MAX_JSON_DEPTH {
        return Err(IngestError::InvalidBody(format!("body: JSON nested deeper than {MAX_JSON_DEPTH} levels")));
    }
    serde_json::from_str(text).map_err(|e| IngestError::MalformedJson(e.to_string()))
}

/// The deepest nesting of `[` and `{` outside strings; a linear scan, so a
/// hostile document is refused before the parser recurses into it.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(nesting_depth(r#"{"a":[{"b":"[[[{{"}]}"#), 3);
        assert_eq!(nesting_depth(r#"{"a":"\"[{"}"#), 1);
        assert_eq!(nesting_depth("[]"), 1);
        assert_eq!(nesting_depth("1"), 0);
    }

    #[test]
    fn refusals_name_the_problem() {
        let deep = format!("{}{}", "[".repeat(11), "]".repeat(11));
        let message = |body: &[u8]| parse_json::<serde_json::Value>(body).expect_err("refused").to_string();
        assert_eq!(message(deep.as_bytes()), "body: JSON nested deeper than 10 levels");
        assert_eq!(message(b"{\"a\":\"\xff\"}"), "body: invalid UTF-8 at byte 6");
        assert!(message(b"{\"a\":").starts_with("malformed JSON: EOF"));
        assert!(parse_json::<serde_json::Value>(format!("{}{}", "[".repeat(10), "]".repeat(10)).as_bytes()).is_ok());
    }
}
