//! The HTTPS autodiscover server of the tests: `fixtures/autodiscover/server.py`
//! (python3's ThreadingHTTPServer with ssl) on a free 127.0.0.1 port, serving one
//! document tree per host name, and logging every request (with whether it carried
//! credentials). Stopped on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::TlsFiles;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/autodiscover/server.py"
);

pub struct AutodiscoverHttps {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
    log: tempfile::NamedTempFile,
}

/// One request the server received.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HttpsRequest {
    pub method: String,
    pub host: String,
    pub path: String,
    /// Whether it carried an `Authorization` header.
    pub authorization: bool,
}

impl AutodiscoverHttps {
    /// Starts the server with this certificate; POSTs must log in as `admin` /
    /// `adminpass` (HTTP Basic).
    pub fn start(tls: &TlsFiles) -> AutodiscoverHttps {
        let root = tempfile::Builder::new()
            .prefix("cutover-https-")
            .tempdir()
            .unwrap();
        let log = tempfile::Builder::new()
            .prefix("cutover-https-log-")
            .tempfile()
            .unwrap();
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .arg("--cert")
            .arg(&tls.cert)
            .arg("--key")
            .arg(&tls.key)
            .arg("--root")
            .arg(root.path())
            .args(["--user", "admin", "--password-env", "AUTODISCOVER_PASSWORD"])
            .arg("--log")
            .arg(log.path())
            .env("AUTODISCOVER_PASSWORD", "adminpass")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run python3 (apt-get install python3)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the HTTPS fixture did not start: {line:?}"));
        AutodiscoverHttps {
            child,
            port,
            root,
            log,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves `body` at `https://HOST:PORT/PATH`.
    pub fn serve(&self, host: &str, path: &str, body: &str) {
        let file: PathBuf = self
            .root
            .path()
            .join(host)
            .join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, body).unwrap();
    }

    /// Answers a POST to `https://HOST:PORT/PATH` with "302 Found" to `location`.
    pub fn redirect(&self, host: &str, path: &str, location: &str) {
        self.serve(host, &format!("{path}.redirect"), location);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<HttpsRequest> {
        std::fs::read_to_string(self.log.path())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line of the request log"))
            .collect()
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for AutodiscoverHttps {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Mozilla autoconfig document with one IMAP server.
pub fn autoconfig_xml(host: &str, port: u16, socket_type: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="contoso.test">
    <domain>contoso.test</domain>
    <incomingServer type="imap">
      <hostname>{host}</hostname>
      <port>{port}</port>
      <socketType>{socket_type}</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
  </emailProvider>
</clientConfig>"#
    )
}

/// An Autodiscover POX answer with one IMAP protocol entry.
pub fn pox_xml(host: &str, port: u16, encryption: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
      <Protocol>
        <Type>IMAP</Type>
        <Server>{host}</Server>
        <Port>{port}</Port>
        <SSL>on</SSL>
        <Encryption>{encryption}</Encryption>
      </Protocol>
    </Account>
  </Response>
</Autodiscover>"#
    )
}
