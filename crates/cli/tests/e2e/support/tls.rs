//! Certificates for TLS tests, made with the openssl command line: a private CA and a
//! server certificate it signs, or a self-signed one.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A certificate and its key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A private certification authority in a temporary directory.
pub struct TestCa {
    dir: tempfile::TempDir,
    pub cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is not installed: apt-get install openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `subjectAltName` for loopback and the given names.
fn alt_names(names: &[&str]) -> String {
    let mut alt = vec!["IP:127.0.0.1".to_string(), "DNS:localhost".to_string()];
    alt.extend(names.iter().map(|n| format!("DNS:{n}")));
    alt.join(",")
}

impl TestCa {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=cutover test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        let cert = dir.path().join("ca.crt");
        let key = dir.path().join("ca.key");
        Self { dir, cert, key }
    }

    /// Where the CA's files are (removed with it, or by a watchdog for a static one).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A server certificate for 127.0.0.1, localhost and `names`, signed by this CA.
    pub fn server(&self, name: &str, names: &[&str]) -> TlsFiles {
        let d = self.dir.path();
        let (key, csr, cert, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                &key,
                "-out",
                &csr,
            ],
        );
        std::fs::write(
            d.join(&ext),
            format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
                alt_names(names)
            ),
        )
        .unwrap();
        let (ca_cert, ca_key) = (
            self.cert.display().to_string(),
            self.key.display().to_string(),
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_cert,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &cert,
            ],
        );
        TlsFiles {
            cert: d.join(cert),
            key: d.join(key),
        }
    }

    /// A certificate that signs itself (no CA anyone trusts).
    pub fn self_signed(&self, name: &str) -> TlsFiles {
        let d = self.dir.path();
        let (key, cert) = (format!("{name}.key"), format!("{name}.crt"));
        let alt = format!("subjectAltName={}", alt_names(&[]));
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-keyout",
                &key,
                "-out",
                &cert,
                "-addext",
                &alt,
            ],
        );
        TlsFiles {
            cert: d.join(cert),
            key: d.join(key),
        }
    }
}
