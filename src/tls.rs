//! Which servers' certificates are trusted, for IMAP and SMTP over TLS: the public roots
//! (webpki-roots, what browsers trust) and, for a company's own certificate authority, the PEM
//! certificates in the file that `SSL_CERT_FILE` names — OpenSSL's variable, so an operator can
//! point it at the system bundle (`/etc/ssl/certs/ca-certificates.crt`, with any CA installed by
//! `update-ca-certificates`) or at the CA's own file.

use std::path::Path;

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
    match std::env::var_os(CERT_FILE_VAR).filter(|p| !p.is_empty()) {
        Some(path) => roots_in(Path::new(&path)),
        None => Ok(Vec::new()),
    }
}

/// The certificates of a PEM file usable as trust roots. A bundle may hold a few that are not (a
/// system bundle's oldest roots): they are left out, with a warning; a file with none is an error.
pub fn roots_in(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let err = |reason: String| TrustError {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    let found = certs.len();
    let usable: Vec<_> = certs
        .into_iter()
        .filter(|c| rustls::RootCertStore::empty().add(c.clone()).is_ok())
        .collect();
    if usable.is_empty() {
        return Err(err(if found == 0 {
            "no certificate in it".into()
        } else {
            format!("none of its {found} certificates is usable as a trust root")
        }));
    }
    if usable.len() < found {
        tracing::warn!(
            file = %path.display(),
            left_out = found - usable.len(),
            trusted = usable.len(),
            "{CERT_FILE_VAR}: some certificates are not usable as trust roots and are left out"
        );
    }
    Ok(usable)
}

/// The public roots and those of `SSL_CERT_FILE`.
pub fn root_store() -> Result<rustls::RootCertStore, TrustError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots.add_parsable_certificates(extra_roots()?);
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_CA: &str = include_str!("../tests/fixtures/tls/private-ca.pem");

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn a_bundle_gives_its_usable_roots_and_leaves_out_the_others() {
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let f = file(&format!("{FIXTURE_CA}{broken}"));
        assert_eq!(roots_in(f.path()).unwrap().len(), 1);
        let f = file(broken);
        let e = roots_in(f.path()).unwrap_err().to_string();
        assert!(e.contains("none of its 1 certificates"), "{e}");
        let f = file("not a certificate\n");
        let e = roots_in(f.path()).unwrap_err().to_string();
        assert!(e.starts_with("SSL_CERT_FILE="), "{e}");
        assert!(e.contains("no certificate in it"), "{e}");
        let e = roots_in(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
