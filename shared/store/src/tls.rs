//! TLS to the stores: rustls on ring for every client, so the whole process
//! has one crypto provider, with certificates checked against the Mozilla
//! roots (webpki-roots). Each store's URL asks for TLS the usual way
//! (`rediss://`, `amqps://`, Postgres' `sslmode`) and may name a private CA
//! with libpq's parameter, `sslrootcert=/path/ca.pem`, which the three
//! clients understand alike here.

use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The Mozilla roots, and the CA certificates of the PEM file `extra_roots`.
pub fn root_store(extra_roots: Option<&str>) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = extra_roots {
        for certificate in CertificateDer::pem_file_iter(path).with_context(|| format!("reading {path}"))? {
            let certificate = certificate.with_context(|| format!("a certificate in {path}"))?;
            roots.add(certificate).with_context(|| format!("a CA certificate in {path}"))?;
        }
    }
    Ok(roots)
}

/// `url` without its `sslrootcert` parameter (which no client parses), and
/// the path it named.
pub fn take_root_cert(url: &str) -> anyhow::Result<(String, Option<String>)> {
    if !url.contains("sslrootcert=") {
        return Ok((url.to_owned(), None));
    }
    let mut parsed = url::Url::parse(url).context("parsing a store URL")?;
    let mut root_cert = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(key, value)| {
            if key == "sslrootcert" {
                root_cert = Some(value.into_owned());
                None
            } else {
                Some((key.into_owned(), value.into_owned()))
            }
        })
        .collect();
    parsed.set_query(None);
    if !kept.is_empty() {
        parsed.query_pairs_mut().extend_pairs(kept);
    }
    Ok((parsed.to_string(), root_cert))
}

/// The PEM text of the CA file that `url` names, and the URL without it.
pub fn take_root_cert_pem(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let (url, path) = take_root_cert(url)?;
    let pem = path.map(|path| std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))).transpose()?;
    Ok((url, pem))
}

/// The connector tokio-postgres uses for `sslmode=prefer|require`.
pub fn postgres_connector(extra_roots: Option<&str>) -> anyhow::Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(root_store(extra_roots)?)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_root_certificate_is_taken_out_of_the_url() {
        let (url, root) =
            super::take_root_cert("postgres://u@h:5432/db?sslmode=require&sslrootcert=/ca.pem").expect("url");
        assert_eq!((url.as_str(), root.as_deref()), ("postgres://u@h:5432/db?sslmode=require", Some("/ca.pem")));
        let (url, root) = super::take_root_cert("rediss://h:6380/?sslrootcert=%2Fca.pem").expect("url");
        assert_eq!((url.as_str(), root.as_deref()), ("rediss://h:6380/", Some("/ca.pem")));
        let plain = "amqp://u:p@h:5672/%2f";
        assert_eq!(super::take_root_cert(plain).expect("url"), (plain.to_owned(), None));
    }
}
