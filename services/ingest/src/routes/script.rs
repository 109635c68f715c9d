//! `GET /js/script.js`: our own tracker (source: `tracker/script.js`). Built
//! into the binary, so the script and the intake API it speaks are always
//! the same version. Served gzipped when the browser accepts it, with an ETag
//! so a revalidation after the cache lifetime costs a 304.

use std::io::Write;
use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

const SCRIPT: &[u8] = include_bytes!("../../assets/script.js");

/// A day fresh, then a week of serving the cached copy while revalidating:
/// pages never wait for the tracker, and a new version is out within a day.
const CACHE_CONTROL: &str = "public, max-age=86400, stale-while-revalidate=604800";

struct Compiled {
    etag: String,
    gzip: Vec<u8>,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(SCRIPT).expect("gzip into memory");
    Compiled {
        etag: format!("\"{}\"", &blake3::hash(SCRIPT).to_hex()[..20]),
        gzip: encoder.finish().expect("gzip into memory"),
    }
});

pub async fn script(request: HttpRequest) -> HttpResponse {
    let compiled = &*COMPILED;
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == compiled.etag || tag.trim() == "*"));
    let mut response = if unchanged { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, compiled.etag.clone()))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
        .insert_header((header::VARY, "Accept-Encoding"));
    if unchanged {
        return response.finish();
    }
    response.content_type("application/javascript; charset=utf-8");
    let gzip_ok = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accepted| accepted.split(',').any(|enc| enc.trim().starts_with("gzip")));
    if gzip_ok {
        response.insert_header((header::CONTENT_ENCODING, "gzip")).body(compiled.gzip.clone())
    } else {
        response.body(SCRIPT)
    }
}
