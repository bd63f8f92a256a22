//! Which servers' certificates are trusted, for IMAP and SMTP over TLS: the public roots
//! (webpki-roots, what browsers trust) and, for a company's own certificate authority, the PEM
//! certificates in the file that `SSL_CERT_FILE` names — OpenSSL's variable, so an operator can
//! point it at the system bundle (`/etc/ssl/certs/ca-certificates.crt`, with any CA installed by
//! `update-ca-certificates`) or at the CA's own file.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The environment variable naming a file of extra trusted certificates.
pub const CERT_FILE_VAR: &str = "SSL_CERT_FILE";

/// `SSL_CERT_FILE` names a file without a usable certificate.
#[derive(Debug, thiserror::Error)]
#[error("{CERT_FILE_VAR}={path}: {reason}; name a file of PEM certificates, or unset it")]
pub struct TrustError {
    path: String,
    reason: String,
}

/// The certificates `SSL_CERT_FILE` names (none when it is unset or empty).
pub fn extra_roots() -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let Some(path) = std::env::var_os(CERT_FILE_VAR).filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let err = |reason: String| TrustError {
        path: path.to_string_lossy().into_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(&path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no certificate in it".into()));
    }
    Ok(certs)
}

/// The public roots and those of `SSL_CERT_FILE`.
pub fn root_store() -> Result<rustls::RootCertStore, TrustError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let extra = extra_roots()?;
    let (_, unusable) = roots.add_parsable_certificates(extra);
    if unusable > 0 {
        let path = std::env::var(CERT_FILE_VAR).unwrap_or_default();
        return Err(TrustError {
            path,
            reason: format!("{unusable} certificate(s) in it are not usable as a trust root"),
        });
    }
    Ok(roots)
}
