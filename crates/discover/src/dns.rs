//! The resolver every command uses: the system's, or one DNS server given with
//! `--dns-server IP:PORT`. The same resolver answers SRV/MX/TXT/CNAME questions, the
//! host names of HTTPS autodiscover requests, and the IMAP host found.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{TokioResolver, net::NetError};

use crate::mx::MxRecord;
use crate::srv::SrvRecord;

/// The DNS server a `--dns-server` (or `--dav-dns-server`) names: `IP` or `IP:PORT`,
/// port 53 by default.
pub fn parse_server(text: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    text.parse()
        .map_err(|_| format!("'{text}' is not IP or IP:PORT (e.g. 192.0.2.53 or 127.0.0.1:5353)"))
}

/// A failed DNS question (a missing record is not an error: it is an empty answer).
#[derive(Debug, thiserror::Error)]
#[error("cannot look up {rtype} {name} {server}: {reason}")]
pub struct DnsError {
    pub rtype: &'static str,
    pub name: String,
    /// "at 127.0.0.1:5353" or "with the system resolver".
    pub server: String,
    pub reason: String,
}

/// Resolver settings could not be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the system resolver ({0}); give a DNS server with --dns-server IP:PORT")]
pub struct ResolverSetupError(String);

/// A resolver, cheap to clone.
#[derive(Clone)]
pub struct Dns {
    inner: Arc<TokioResolver>,
    server: Option<SocketAddr>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns").field("server", &self.server).finish()
    }
}

impl Dns {
    /// The system's resolver (`/etc/resolv.conf`), or the given server (UDP and TCP).
    pub fn new(server: Option<SocketAddr>) -> Result<Dns, ResolverSetupError> {
        let mut builder = match server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => {
                TokioResolver::builder_tokio().map_err(|e| ResolverSetupError(e.to_string()))?
            }
        };
        let opts = builder.options_mut();
        opts.timeout = Duration::from_secs(3);
        opts.attempts = 2;
        // Answers must be fresh: `dns check` and `domain verify` look for a change.
        opts.cache_size = 0;
        let inner = builder
            .build()
            .map_err(|e| ResolverSetupError(e.to_string()))?;
        Ok(Dns {
            inner: Arc::new(inner),
            server,
        })
    }

    /// The server asked, for messages.
    pub fn describe(&self) -> String {
        match self.server {
            Some(a) => format!("at {a}"),
            None => "with the system resolver".to_string(),
        }
    }

    pub fn server(&self) -> Option<SocketAddr> {
        self.server
    }

    fn fqdn(name: &str) -> String {
        let name = name.trim().trim_end_matches('.');
        format!("{name}.")
    }

    async fn lookup(
        &self,
        name: &str,
        rtype: RecordType,
        label: &'static str,
    ) -> Result<Vec<RData>, DnsError> {
        match self.inner.lookup(Self::fqdn(name), rtype).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter(|r| r.record_type() == rtype)
                .map(|r| r.data.clone())
                .collect()),
            Err(e) if is_no_records(&e) => Ok(Vec::new()),
            Err(e) => Err(DnsError {
                rtype: label,
                name: name.to_string(),
                server: self.describe(),
                reason: e.to_string(),
            }),
        }
    }

    pub async fn srv(&self, name: &str) -> Result<Vec<SrvRecord>, DnsError> {
        Ok(self
            .lookup(name, RecordType::SRV, "SRV")
            .await?
            .into_iter()
            .filter_map(|d| match d {
                RData::SRV(s) => Some(SrvRecord {
                    priority: s.priority,
                    weight: s.weight,
                    port: s.port,
                    target: s.target.to_ascii(),
                }),
                _ => None,
            })
            .collect())
    }

    pub async fn mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        let mut out: Vec<MxRecord> = self
            .lookup(domain, RecordType::MX, "MX")
            .await?
            .into_iter()
            .filter_map(|d| match d {
                RData::MX(m) => Some(MxRecord {
                    preference: m.preference,
                    exchange: crate::settings::normalize_host(&m.exchange.to_ascii()),
                }),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
        Ok(out)
    }

    /// TXT strings of a name, each record's pieces joined.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        Ok(self
            .lookup(name, RecordType::TXT, "TXT")
            .await?
            .into_iter()
            .filter_map(|d| match d {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|piece| String::from_utf8_lossy(piece).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    /// Where a CNAME points, if the name is one.
    pub async fn cname(&self, name: &str) -> Result<Option<String>, DnsError> {
        Ok(self
            .lookup(name, RecordType::CNAME, "CNAME")
            .await?
            .into_iter()
            .find_map(|d| match d {
                RData::CNAME(c) => Some(crate::settings::normalize_host(&c.0.to_ascii())),
                _ => None,
            }))
    }

    /// Addresses of a host (an IP literal is its own address). The system resolver is
    /// asked through the C library, so `/etc/hosts` counts as it does for other tools.
    pub async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let fail = |reason: String| DnsError {
            rtype: "A/AAAA",
            name: host.to_string(),
            server: self.describe(),
            reason,
        };
        if self.server.is_none() {
            return match tokio::net::lookup_host((host, 0)).await {
                Ok(addrs) => Ok(addrs.map(|a| a.ip()).collect()),
                Err(_) => Ok(Vec::new()),
            };
        }
        match self.inner.lookup_ip(Self::fqdn(host)).await {
            Ok(ips) => Ok(ips.iter().collect()),
            Err(e) if is_no_records(&e) => Ok(Vec::new()),
            Err(e) => Err(fail(e.to_string())),
        }
    }
}

fn is_no_records(e: &NetError) -> bool {
    e.is_no_records_found() || e.is_nx_domain()
}

/// reqwest asks this resolver for the host names of autodiscover URLs.
impl reqwest::dns::Resolve for Dns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let ips = dns.ips(&host).await?;
            if ips.is_empty() {
                return Err(format!("{host} has no address {}", dns.describe()).into());
            }
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dns_server_is_ip_or_ip_and_port() {
        assert_eq!(parse_server("127.0.0.1").unwrap().port(), 53);
        assert_eq!(parse_server("127.0.0.1:5353").unwrap().port(), 5353);
        assert_eq!(parse_server("[::1]:5353").unwrap().port(), 5353);
        let refused = parse_server("dns.example").unwrap_err();
        assert!(refused.contains("IP or IP:PORT"), "{refused}");
    }
}
