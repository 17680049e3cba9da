//! TLS client setup. Verification is always strict: webpki roots plus the CAs the
//! operator names with `--ca-file`. Nothing process-global is touched; the crypto
//! provider is passed explicitly.

use std::{path::PathBuf, sync::Arc, time::Duration};

use rustls::{CertificateError, ClientConfig, RootCertStore, pki_types::ServerName};
use rustls_pki_types::{CertificateDer, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsConnector, client::TlsStream};

use crate::error::ImapError;

/// Trust settings for TLS and STARTTLS.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM file with one or more CA certificates trusted in addition to the webpki roots.
    pub ca_file: Option<PathBuf>,
}

impl TlsOptions {
    /// Builds the rustls configuration. Cheap enough per connection, but callers that
    /// open many connections can build it once and use [`crate::Session::connect_with`].
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, ImapError> {
        let config_error = |reason: String| ImapError::Tls {
            addr: "(configuration)".into(),
            reason,
        };
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &self.ca_file {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                config_error(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            let mut added = 0;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    config_error(format!("cannot parse CA file {}: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    config_error(format!(
                        "unusable CA certificate in {}: {e}",
                        path.display()
                    ))
                })?;
                added += 1;
            }
            if added == 0 {
                return Err(config_error(format!(
                    "no PEM certificates found in CA file {}",
                    path.display()
                )));
            }
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| config_error(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// The handshake, which must be over within `timeout` (a server that accepts the
/// connection and never answers it does not hold us).
pub(crate) async fn handshake<S>(
    tcp: S,
    host: &str,
    addr: &str,
    config: Arc<ClientConfig>,
    timeout: Duration,
) -> Result<TlsStream<S>, ImapError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(host.to_string()).map_err(|e| ImapError::Tls {
        addr: addr.to_string(),
        reason: format!("invalid server name {host:?}: {e}"),
    })?;
    tokio::time::timeout(timeout, TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| ImapError::Timeout {
            server: addr.to_string(),
            command: "TLS handshake",
            after: timeout,
        })?
        .map_err(|e| ImapError::Tls {
            addr: addr.to_string(),
            reason: describe(&e, host),
        })
}

/// Spells certificate failures out for an operator.
fn describe(err: &std::io::Error, host: &str) -> String {
    let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return err.to_string();
    };
    match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => {
                "the server certificate is not trusted (unknown issuer); \
                 if the server uses a private CA, pass its certificate with --ca-file"
                    .to_string()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("the server certificate has expired ({cert})")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("the server certificate is not valid yet ({cert})")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("the server certificate does not match the host name {host:?} ({cert})")
            }
            CertificateError::Revoked => "the server certificate has been revoked".to_string(),
            // webpki's error comes wrapped as `Other`; its name is all rustls exposes of it.
            other if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                "the server certificate is not trusted: it is self-signed (a CA certificate \
                 used as the server's own); give the server a certificate issued by a CA, and \
                 pass that CA with --ca-file if it is a private one"
                    .to_string()
            }
            other => format!("the server certificate is not trusted: {other}"),
        },
        other => other.to_string(),
    }
}
