//! Mozilla autoconfig (`config-v1.1.xml`): the IMAP servers it lists for a domain.

use cutover_model::Security;
use serde::Deserialize;

use crate::settings::ImapSettings;

#[derive(Debug, Deserialize)]
struct ClientConfig {
    #[serde(rename = "emailProvider", default)]
    providers: Vec<EmailProvider>,
}

#[derive(Debug, Deserialize)]
struct EmailProvider {
    #[serde(rename = "incomingServer", default)]
    incoming: Vec<IncomingServer>,
}

#[derive(Debug, Deserialize)]
struct IncomingServer {
    #[serde(rename = "@type")]
    kind: String,
    hostname: Option<String>,
    port: Option<String>,
    #[serde(rename = "socketType")]
    socket_type: Option<String>,
    username: Option<String>,
}

/// Why an autoconfig document could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AutoconfigError {
    #[error("not a Mozilla autoconfig document: {0}")]
    Xml(String),
    #[error("the document lists no IMAP server")]
    NoImap,
}

/// The IMAP servers of an autoconfig document, in its order, with the placeholders
/// (`%EMAILADDRESS%`, `%EMAILLOCALPART%`, `%EMAILDOMAIN%`) filled in for `email`.
/// Entries without host name or with a port or socket type we cannot read are left out.
pub fn parse(xml: &str, email: &str) -> Result<Vec<ImapSettings>, AutoconfigError> {
    let doc: ClientConfig =
        quick_xml::de::from_str(xml).map_err(|e| AutoconfigError::Xml(e.to_string()))?;
    let (local, domain) = email.rsplit_once('@').unwrap_or((email, ""));
    let fill = |s: &str| {
        s.trim()
            .replace("%EMAILADDRESS%", email)
            .replace("%EMAILLOCALPART%", local)
            .replace("%EMAILDOMAIN%", domain)
    };
    let servers: Vec<ImapSettings> = doc
        .providers
        .iter()
        .flat_map(|p| &p.incoming)
        .filter(|s| s.kind.eq_ignore_ascii_case("imap"))
        .filter_map(|s| {
            let host = fill(s.hostname.as_deref()?);
            let security = match s.socket_type.as_deref().map(str::trim) {
                Some(t) if t.eq_ignore_ascii_case("SSL") => Security::Tls,
                Some(t) if t.eq_ignore_ascii_case("STARTTLS") => Security::StartTls,
                Some(t) if t.eq_ignore_ascii_case("plain") => Security::None,
                None => Security::Tls,
                Some(_) => return None,
            };
            let port = match &s.port {
                Some(p) => p.trim().parse().ok().filter(|p| *p != 0)?,
                None if security == Security::Tls => 993,
                None => 143,
            };
            (!host.is_empty()).then(|| ImapSettings {
                host: host.to_ascii_lowercase(),
                port,
                security,
                username: s.username.as_deref().map(fill),
            })
        })
        .collect();
    if servers.is_empty() {
        return Err(AutoconfigError::NoImap);
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="contoso.test">
    <domain>contoso.test</domain>
    <displayName>Contoso Mail</displayName>
    <incomingServer type="pop3">
      <hostname>pop.contoso.test</hostname><port>995</port><socketType>SSL</socketType>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.%EMAILDOMAIN%</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.contoso.test</hostname><port>143</port><socketType>STARTTLS</socketType>
      <username>%EMAILLOCALPART%</username>
    </incomingServer>
    <outgoingServer type="smtp"><hostname>smtp.contoso.test</hostname><port>587</port></outgoingServer>
  </emailProvider>
</clientConfig>"#;

    #[test]
    fn imap_servers_are_read_in_order_with_placeholders_filled() {
        let got = parse(DOC, "admin@contoso.test").unwrap();
        assert_eq!(
            got,
            vec![
                ImapSettings {
                    host: "imap.contoso.test".into(),
                    port: 993,
                    security: Security::Tls,
                    username: Some("admin@contoso.test".into()),
                },
                ImapSettings {
                    host: "imap.contoso.test".into(),
                    port: 143,
                    security: Security::StartTls,
                    username: Some("admin".into()),
                },
            ]
        );
    }

    #[test]
    fn a_document_without_imap_or_not_autoconfig_is_refused() {
        let pop_only = DOC.replace("type=\"imap\"", "type=\"pop3\"");
        assert_eq!(
            parse(&pop_only, "a@contoso.test"),
            Err(AutoconfigError::NoImap)
        );
        assert!(matches!(
            parse("<html><body>Not found", "a@contoso.test"),
            Err(AutoconfigError::Xml(_)) | Err(AutoconfigError::NoImap)
        ));
    }
}
