//! Microsoft Autodiscover POX (plain old XML, the Outlook 2006 schema): the request
//! Outlook posts, and the IMAP settings or redirect in the answer.

use cutover_model::Security;
use serde::Deserialize;

use crate::settings::ImapSettings;

/// The body to POST to `.../autodiscover/autodiscover.xml` for `email`.
pub fn request(email: &str) -> String {
    let email = email
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n\
         <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\r\n\
         <Request><EMailAddress>{email}</EMailAddress>\r\n\
         <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\r\n\
         </Request></Autodiscover>\r\n"
    )
}

// Element names are matched without namespace: POX answers use default namespaces
// (no prefixes), so the local names are the names.
#[derive(Debug, Deserialize)]
struct Autodiscover {
    #[serde(rename = "Response")]
    response: Option<Response>,
}

#[derive(Debug, Deserialize)]
struct Response {
    #[serde(rename = "Error")]
    error: Option<ErrorElement>,
    #[serde(rename = "Account")]
    account: Option<Account>,
}

#[derive(Debug, Deserialize)]
struct ErrorElement {
    #[serde(rename = "ErrorCode")]
    code: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Account {
    #[serde(rename = "Action")]
    action: Option<String>,
    #[serde(rename = "RedirectAddr")]
    redirect_addr: Option<String>,
    #[serde(rename = "RedirectUrl")]
    redirect_url: Option<String>,
    #[serde(rename = "Protocol", default)]
    protocols: Vec<Protocol>,
}

#[derive(Debug, Deserialize)]
struct Protocol {
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(rename = "Server")]
    server: Option<String>,
    #[serde(rename = "Port")]
    port: Option<String>,
    #[serde(rename = "SSL")]
    ssl: Option<String>,
    #[serde(rename = "Encryption")]
    encryption: Option<String>,
    #[serde(rename = "LoginName")]
    login_name: Option<String>,
}

/// What an Autodiscover answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoxAnswer {
    /// IMAP protocol entries, in the answer's order.
    Imap(Vec<ImapSettings>),
    /// Ask again for another address (`Action` redirectAddr).
    RedirectAddr(String),
    /// Ask again at another URL (`Action` redirectUrl).
    RedirectUrl(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoxError {
    #[error("not an Autodiscover answer: {0}")]
    Xml(String),
    #[error("the server answered with error {code}: {message}")]
    Server { code: String, message: String },
    #[error("the answer lists no IMAP protocol (only {0})")]
    NoImap(String),
}

/// Reads an Autodiscover POX answer.
pub fn parse(xml: &str) -> Result<PoxAnswer, PoxError> {
    let doc: Autodiscover =
        quick_xml::de::from_str(xml).map_err(|e| PoxError::Xml(e.to_string()))?;
    let response = doc
        .response
        .ok_or_else(|| PoxError::Xml("no Response element".into()))?;
    if let Some(e) = response.error {
        return Err(PoxError::Server {
            code: e.code.unwrap_or_default().trim().to_string(),
            message: e.message.unwrap_or_default().trim().to_string(),
        });
    }
    let account = response
        .account
        .ok_or_else(|| PoxError::Xml("no Account element".into()))?;
    let action = account.action.as_deref().map(str::trim).unwrap_or("");
    if action.eq_ignore_ascii_case("redirectAddr")
        && let Some(addr) = account.redirect_addr
    {
        return Ok(PoxAnswer::RedirectAddr(addr.trim().to_string()));
    }
    if action.eq_ignore_ascii_case("redirectUrl")
        && let Some(url) = account.redirect_url
    {
        return Ok(PoxAnswer::RedirectUrl(url.trim().to_string()));
    }
    let kinds: Vec<String> = account
        .protocols
        .iter()
        .filter_map(|p| p.kind.as_deref().map(|k| k.trim().to_string()))
        .collect();
    let imap: Vec<ImapSettings> = account
        .protocols
        .iter()
        .filter(|p| {
            p.kind
                .as_deref()
                .is_some_and(|k| k.trim().eq_ignore_ascii_case("IMAP"))
        })
        .filter_map(|p| {
            let host = p.server.as_deref()?.trim().to_ascii_lowercase();
            let port: Option<u16> = p.port.as_deref().and_then(|v| v.trim().parse().ok());
            let ssl_on = p
                .ssl
                .as_deref()
                .is_none_or(|v| !v.trim().eq_ignore_ascii_case("off"));
            // Encryption (when present) overrides SSL: SSL = TLS from the first byte,
            // TLS = STARTTLS, None = plain.
            let security = match p.encryption.as_deref().map(str::trim) {
                Some(e) if e.eq_ignore_ascii_case("SSL") => Security::Tls,
                Some(e) if e.eq_ignore_ascii_case("TLS") => Security::StartTls,
                Some(e) if e.eq_ignore_ascii_case("None") => Security::None,
                _ if !ssl_on => Security::None,
                _ if port == Some(143) => Security::StartTls,
                _ => Security::Tls,
            };
            let port = port.filter(|p| *p != 0).unwrap_or(match security {
                Security::Tls => 993,
                _ => 143,
            });
            (!host.is_empty()).then(|| ImapSettings {
                host,
                port,
                security,
                username: p.login_name.as_deref().map(|l| l.trim().to_string()),
            })
        })
        .collect();
    if imap.is_empty() {
        return Err(PoxError::NoImap(if kinds.is_empty() {
            "no protocols".into()
        } else {
            kinds.join(", ")
        }));
    }
    Ok(PoxAnswer::Imap(imap))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(account: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <User><DisplayName>Admin</DisplayName></User>
    <Account>{account}</Account>
  </Response>
</Autodiscover>"#
        )
    }

    #[test]
    fn imap_settings_are_read_and_other_protocols_ignored() {
        let xml = answer(
            "<AccountType>email</AccountType><Action>settings</Action>
             <Protocol><Type>EXCH</Type><Server>ex.contoso.test</Server></Protocol>
             <Protocol><Type>IMAP</Type><Server>Mail.Contoso.Test</Server><Port>993</Port>
               <SSL>on</SSL><LoginName>admin@contoso.test</LoginName></Protocol>
             <Protocol><Type>IMAP</Type><Server>mail.contoso.test</Server><Port>143</Port>
               <Encryption>TLS</Encryption></Protocol>",
        );
        assert_eq!(
            parse(&xml),
            Ok(PoxAnswer::Imap(vec![
                ImapSettings {
                    host: "mail.contoso.test".into(),
                    port: 993,
                    security: Security::Tls,
                    username: Some("admin@contoso.test".into()),
                },
                ImapSettings {
                    host: "mail.contoso.test".into(),
                    port: 143,
                    security: Security::StartTls,
                    username: None,
                },
            ]))
        );
    }

    #[test]
    fn redirects_errors_and_answers_without_imap() {
        let redirect =
            answer("<Action>redirectAddr</Action><RedirectAddr>admin@fabrikam.test</RedirectAddr>");
        assert_eq!(
            parse(&redirect),
            Ok(PoxAnswer::RedirectAddr("admin@fabrikam.test".into()))
        );
        let no_imap = answer("<Action>settings</Action><Protocol><Type>EXPR</Type></Protocol>");
        assert_eq!(parse(&no_imap), Err(PoxError::NoImap("EXPR".into())));
        let error = r#"<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response><Error Time="10:00:00" Id="1"><ErrorCode>600</ErrorCode><Message>Invalid Request</Message></Error></Response>
</Autodiscover>"#;
        assert_eq!(
            parse(error),
            Err(PoxError::Server {
                code: "600".into(),
                message: "Invalid Request".into()
            })
        );
        assert!(request("a&b@contoso.test").contains("<EMailAddress>a&amp;b@contoso.test<"));
    }
}
