//! The IO edge: connect (LDAPS or StartTLS with the strict rustls configuration IMAP
//! uses), bind, read every recipient object with paged results (RFC 2696), and join
//! AD's ranged attributes. Everything it reads goes through
//! [`crate::recipient_from_entry`].

use std::sync::Arc;
use std::time::Duration;

use cutover_model::SourceDirectory;
use ldap3::adapters::{EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use secrecy::{ExposeSecret, SecretString};

use crate::attributes::AttributeNames;
use crate::entry::{Entry, join_next_range};
use crate::error::{DirectoryError, result_code_name};
use crate::recipient::{Recipient, recipient_from_entry};

/// Entries per page: under AD's MaxPageSize (1,000) and Samba's.
pub const PAGE_SIZE: i32 = 500;
pub(crate) const TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound connection to a source directory.
pub struct DirectoryReader {
    ldap: Ldap,
    settings: SourceDirectory,
    names: AttributeNames,
}

/// What `directory test` found of the base DN.
#[derive(Debug, Clone)]
pub struct BaseCheck {
    pub base_dn: String,
    /// The server's own naming contexts (from the root DSE), for the admin to compare.
    pub naming_contexts: Vec<String>,
}

impl std::fmt::Debug for DirectoryReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryReader")
            .field("url", &self.settings.url)
            .field("bind_dn", &self.settings.bind_dn)
            .finish_non_exhaustive()
    }
}

impl DirectoryReader {
    /// Connects and binds; each failure says what to change.
    pub async fn connect(
        settings: &SourceDirectory,
        password: &SecretString,
    ) -> Result<Self, DirectoryError> {
        let (ldap, names) = bind(settings, password).await?;
        Ok(Self {
            ldap,
            settings: settings.clone(),
            names,
        })
    }

    /// The attribute names it reads (the profile with the admin's overrides).
    pub fn names(&self) -> &AttributeNames {
        &self.names
    }

    /// Reads the base entry (a wrong base DN fails here, by name) and the server's
    /// naming contexts.
    pub async fn check_base(&mut self) -> Result<BaseCheck, DirectoryError> {
        let naming_contexts = match self
            .ldap
            .with_timeout(TIMEOUT)
            .search("", Scope::Base, "(objectClass=*)", vec!["namingContexts"])
            .await
            .and_then(|r| r.success())
        {
            Ok((entries, _)) => entries
                .into_iter()
                .flat_map(|e| {
                    SearchEntry::construct(e)
                        .attrs
                        .into_iter()
                        .filter(|(k, _)| k.eq_ignore_ascii_case("namingContexts"))
                        .flat_map(|(_, v)| v)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        let base = self.settings.base_dn.clone();
        let result = self
            .ldap
            .with_timeout(TIMEOUT)
            .search(&base, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| self.search_error(e))?;
        if result.1.rc == 32 {
            return Err(DirectoryError::NoSuchBase {
                url: self.settings.url.clone(),
                base,
                matched: if result.1.matched.is_empty() {
                    naming_contexts.join("', '")
                } else {
                    result.1.matched.clone()
                },
            });
        }
        result.success().map_err(|e| self.search_error(e))?;
        Ok(BaseCheck {
            base_dn: base,
            naming_contexts,
        })
    }

    /// Every recipient under the base, in the order the server sent them; groups with
    /// all their members.
    pub async fn recipients(&mut self) -> Result<Vec<Recipient>, DirectoryError> {
        let entries = self.entries().await?;
        Ok(entries
            .iter()
            .filter_map(|e| recipient_from_entry(e, &self.names))
            .collect())
    }

    /// The recipient objects as plain entries, pages joined, ranges joined.
    pub async fn entries(&mut self) -> Result<Vec<Entry>, DirectoryError> {
        let attrs = self.names.requested();
        let base = self.settings.base_dn.clone();
        let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let mut stream = self
            .ldap
            .streaming_search_with(adapters, &base, Scope::Subtree, self.names.filter(), attrs)
            .await
            .map_err(|e| self.search_error(e))?;
        let mut entries = Vec::new();
        loop {
            match stream.next().await {
                Ok(Some(raw)) => entries.push(plain(SearchEntry::construct(raw))),
                Ok(None) => break,
                Err(e) => return Err(self.search_error(e)),
            }
        }
        let done = stream.finish().await;
        if done.rc == 32 {
            return Err(DirectoryError::NoSuchBase {
                url: self.settings.url.clone(),
                base,
                matched: done.matched,
            });
        }
        done.success().map_err(|e| self.search_error(e))?;
        for entry in &mut entries {
            self.join_ranges(entry).await?;
        }
        tracing::info!(url = %self.settings.url, entries = entries.len(), "read the source directory");
        Ok(entries)
    }

    /// Reads the rest of each ranged attribute (`member;range=1500-*`, ...) until the
    /// server says it sent the last values.
    async fn join_ranges(&mut self, entry: &mut Entry) -> Result<(), DirectoryError> {
        while let Some((attr, first)) = entry.take_ranged() {
            let mut next = first.next_request(&attr);
            while let Some(request) = next {
                let (found, _) = self
                    .ldap
                    .with_timeout(TIMEOUT)
                    .search(
                        &entry.dn,
                        Scope::Base,
                        "(objectClass=*)",
                        vec![request.as_str()],
                    )
                    .await
                    .and_then(|r| r.success())
                    .map_err(|e| self.search_error(e))?;
                let answer = found
                    .into_iter()
                    .next()
                    .map(|e| plain(SearchEntry::construct(e)))
                    .unwrap_or_else(|| Entry::new(entry.dn.clone()));
                next = join_next_range(entry, &attr, &request, answer).map_err(|got| {
                    DirectoryError::RangeStuck {
                        url: self.settings.url.clone(),
                        dn: entry.dn.clone(),
                        attr: attr.clone(),
                        got,
                    }
                })?;
            }
        }
        Ok(())
    }

    pub async fn unbind(mut self) {
        let _ = self.ldap.unbind().await;
    }

    fn search_error(&self, e: LdapError) -> DirectoryError {
        let reason = match &e {
            LdapError::LdapResult { result } => format!(
                "{} ({}){}",
                result_code_name(result.rc),
                result.rc,
                if result.text.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", result.text.trim())
                }
            ),
            other => other.to_string(),
        };
        DirectoryError::Search {
            url: self.settings.url.clone(),
            base: self.settings.base_dn.clone(),
            reason,
        }
    }
}

/// Connects (strict TLS: LDAPS or StartTLS) and binds, for reading now and for writing
/// when provisioning comes: a writer into the target's directory binds the same way.
/// Each failure says what to change.
pub(crate) async fn bind(
    settings: &SourceDirectory,
    password: &SecretString,
) -> Result<(Ldap, AttributeNames), DirectoryError> {
    settings.check().map_err(DirectoryError::Settings)?;
    let names = AttributeNames::new(settings.profile, &settings.attributes)
        .map_err(DirectoryError::Settings)?;
    let url = settings.url.clone();
    let tls = cutover_imap::TlsOptions {
        ca_file: settings.ca_file.as_ref().map(Into::into),
    }
    .client_config()
    .map_err(|e| DirectoryError::Settings(format!("--directory-ca-file: {e}")))?;
    let conn_settings = LdapConnSettings::new()
        .set_conn_timeout(CONNECT_TIMEOUT)
        .set_config(Arc::clone(&tls))
        .set_starttls(settings.starttls);
    let (conn, mut ldap) = LdapConnAsync::with_settings(conn_settings, &url)
        .await
        .map_err(|e| connect_error(&url, e))?;
    let conn_url = url.clone();
    tokio::spawn(async move {
        if let Err(e) = conn.drive().await {
            tracing::debug!(url = %conn_url, error = %e, "directory connection ended");
        }
    });
    let bound = ldap
        .with_timeout(TIMEOUT)
        .simple_bind(&settings.bind_dn, password.expose_secret())
        .await
        .map_err(|e| connect_error(&url, e))?;
    if bound.rc != 0 {
        let text = bound.text.trim().to_string();
        return Err(match bound.rc {
            8 | 13 => DirectoryError::StrongerAuthRequired { url, text },
            rc => DirectoryError::BindRefused {
                url,
                bind_dn: settings.bind_dn.clone(),
                code: result_code_name(rc).to_string(),
                text: if text.is_empty() {
                    String::new()
                } else {
                    format!(": {text}")
                },
            },
        });
    }
    tracing::info!(url = %settings.url, bind_dn = %settings.bind_dn, "bound to the directory");
    Ok((ldap, names))
}

pub(crate) fn plain(e: SearchEntry) -> Entry {
    let mut entry = Entry::new(e.dn);
    for (attr, values) in e.attrs {
        entry.add(&attr, values);
    }
    entry
}

/// A failure before the bind answered: the network, or TLS (an untrusted certificate
/// named as such).
fn connect_error(url: &str, e: LdapError) -> DirectoryError {
    let reason = e.to_string();
    let source_chain = {
        let mut s = reason.clone();
        let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(c) = cur {
            s.push_str(": ");
            s.push_str(&c.to_string());
            cur = c.source();
        }
        s
    };
    if source_chain.contains("UnknownIssuer")
        || source_chain.contains("invalid peer certificate")
        || source_chain.contains("NotValidForName")
    {
        DirectoryError::UntrustedCertificate {
            url: url.to_string(),
            reason: source_chain,
        }
    } else if source_chain.to_ascii_lowercase().contains("tls") {
        DirectoryError::Tls {
            url: url.to_string(),
            reason: source_chain,
        }
    } else {
        DirectoryError::Connect {
            url: url.to_string(),
            reason: source_chain,
        }
    }
}
