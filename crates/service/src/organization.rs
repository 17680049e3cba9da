//! The organization at the edge: the source recipients of an endpoint's directory, the
//! target's directory, the batch's users made from the source recipients (`batch new
//! --all-mailboxes`), and preflight's facts read from all of them and the store. The
//! decisions are pure (`users_from_recipients` here, `cutover_directory::preflight`).

use std::collections::BTreeMap;

use cutover_directory::{
    BatchUser, DirectoryReader, DomainFact, PreflightFacts, Recipient, TargetFacts,
};
use cutover_model::{Batch, EmailAddress};
use cutover_store::{NewUser, Store};

use crate::control::{ControlError, Result};

/// Which directory could not be read.
fn unreadable(which: &'static str, e: cutover_directory::DirectoryError) -> ControlError {
    ControlError::Directory {
        which,
        reason: e.to_string(),
    }
}

/// The recipients of the endpoint's source directory; `None` when it has none.
pub async fn source_recipients(
    store: &dyn Store,
    endpoint: &str,
) -> Result<Option<Vec<Recipient>>> {
    let Some(settings) = store.endpoint_directory(endpoint).await? else {
        return Ok(None);
    };
    let password = store.endpoint_directory_password(endpoint).await?;
    let read = async {
        let mut reader = DirectoryReader::connect(&settings, &password).await?;
        let recipients = reader.recipients().await?;
        reader.unbind().await;
        Ok(recipients)
    };
    read.await
        .map(Some)
        .map_err(|e| unreadable("source directory of the endpoint", e))
}

/// What the target's directory holds; `None` when the target has none.
pub async fn target_holdings(store: &dyn Store) -> Result<Option<TargetFacts>> {
    let Some(settings) = store.target_directory().await? else {
        return Ok(None);
    };
    let password = store.target_directory_password().await?;
    cutover_directory::read_target(&settings, &password)
        .await
        .map(Some)
        .map_err(|e| unreadable("target's directory", e))
}

/// The migration users of a batch of the whole organization: every mail-enabled
/// recipient, with its kind; mailboxes log in to the source with their UPN (`uid` on
/// OpenLDAP). A primary address that is not an address, or that two recipients share,
/// stops it, naming them (on the target an address has one owner).
pub fn users_from_recipients(recipients: &[Recipient]) -> Result<Vec<NewUser>> {
    let mut users = Vec::new();
    let mut owners: BTreeMap<EmailAddress, Vec<&str>> = BTreeMap::new();
    let mut bad = Vec::new();
    for r in recipients {
        let Some(primary) = &r.primary_smtp else {
            continue;
        };
        let email = match primary.parse::<EmailAddress>() {
            Ok(e) => e,
            Err(e) => {
                bad.push(format!("  '{}': {e}", r.dn));
                continue;
            }
        };
        let list = owners.entry(email.clone()).or_default();
        list.push(&r.dn);
        if list.len() > 1 {
            continue;
        }
        users.push(NewUser {
            email,
            source_login: r
                .upn
                .clone()
                .filter(|_| r.kind.has_mailbox())
                .filter(|u| !u.trim().is_empty()),
            password: None,
            kind: r.kind,
        });
    }
    for (email, dns) in &owners {
        if dns.len() > 1 {
            bad.push(format!(
                "  {email} is the primary SMTP address of {} recipients: {}",
                dns.len(),
                dns.join("; ")
            ));
        }
    }
    if !bad.is_empty() {
        return Err(ControlError::Invalid(format!(
            "the batch cannot be made from the directory; fix these recipients in the source \
             directory, then create it again:\n{}",
            bad.join("\n")
        )));
    }
    if users.is_empty() {
        return Err(ControlError::Invalid(
            "the source directory holds no mail-enabled recipient under its base DN; check \
             --directory-base (`cutover directory get ENDPOINT`)"
                .into(),
        ));
    }
    Ok(users)
}

/// Every migration user of the endpoint's organization (`batch new --all-mailboxes`).
pub async fn organization_users(store: &dyn Store, endpoint: &str) -> Result<Vec<NewUser>> {
    let e = store
        .endpoint(endpoint)
        .await?
        .ok_or_else(|| ControlError::NotFound {
            what: "endpoint",
            name: endpoint.to_string(),
        })?;
    let recipients = source_recipients(store, e.name.as_str())
        .await?
        .ok_or_else(|| {
            ControlError::Invalid(format!(
                "endpoint '{endpoint}' has no source directory to read the organization from; \
                 give it one (`cutover endpoint set {endpoint} --directory ldaps://HOST \
                 --directory-base DN --directory-bind DN --directory-password-file FILE`) or \
                 list the users in a users CSV"
            ))
        })?;
    users_from_recipients(&recipients)
}

/// Everything preflight looks at for `batch`, read now: its users, the source directory
/// of its endpoint, the accepted domains, the target's directory.
pub async fn preflight_facts(store: &dyn Store, batch: &Batch) -> Result<PreflightFacts> {
    let users = store
        .users(Some(batch.name.as_str()), None)
        .await?
        .into_iter()
        .map(|u| BatchUser {
            email: u.email.to_string(),
            kind: u.kind,
        })
        .collect();
    let domains = store
        .accepted_domains()
        .await?
        .into_iter()
        .map(|d| DomainFact {
            name: d.name,
            verified: d.verified_at.is_some(),
        })
        .collect();
    Ok(PreflightFacts {
        users,
        source: source_recipients(store, batch.source_endpoint.as_str()).await?,
        domains,
        target: target_holdings(store).await?,
        domain_check_skipped: batch.domain_check_skipped,
    })
}

#[cfg(test)]
mod tests {
    use cutover_model::RecipientKind;

    use super::*;

    fn r(kind: RecipientKind, dn: &str, primary: Option<&str>, upn: Option<&str>) -> Recipient {
        Recipient {
            kind,
            dn: dn.into(),
            primary_smtp: primary.map(Into::into),
            aliases: Vec::new(),
            display_name: None,
            upn: upn.map(Into::into),
            members: Vec::new(),
            manager: None,
            delegates: Vec::new(),
            hidden_from_address_lists: false,
            um_enabled: false,
            recipient_type_details: None,
        }
    }

    #[test]
    fn every_mail_enabled_recipient_becomes_a_user_of_its_kind() {
        let users = users_from_recipients(&[
            r(
                RecipientKind::Mailbox,
                "CN=A",
                Some("Alice.Smith@contoso.test"),
                Some("alice@contoso.test"),
            ),
            r(
                RecipientKind::MailContact,
                "CN=K",
                Some("k@partner.test"),
                None,
            ),
            r(
                RecipientKind::MailUser,
                "CN=M",
                Some("m@partner.test"),
                Some("m@contoso.test"),
            ),
            r(RecipientKind::SecurityGroup, "CN=P", None, None),
            r(
                RecipientKind::SecurityGroup,
                "CN=F",
                Some("f@contoso.test"),
                None,
            ),
        ])
        .unwrap();
        let got: Vec<(&str, RecipientKind, Option<&str>)> = users
            .iter()
            .map(|u| (u.email.as_str(), u.kind, u.source_login.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "alice.smith@contoso.test",
                    RecipientKind::Mailbox,
                    Some("alice@contoso.test")
                ),
                ("k@partner.test", RecipientKind::MailContact, None),
                ("m@partner.test", RecipientKind::MailUser, None),
                ("f@contoso.test", RecipientKind::SecurityGroup, None),
            ]
        );
    }

    #[test]
    fn a_shared_or_broken_primary_address_is_named() {
        let err = users_from_recipients(&[
            r(RecipientKind::Mailbox, "CN=A", Some("a@contoso.test"), None),
            r(RecipientKind::Mailbox, "CN=B", Some("A@Contoso.test"), None),
            r(RecipientKind::Mailbox, "CN=C", Some("not an address"), None),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("a@contoso.test is the primary SMTP address of 2 recipients: CN=A; CN=B"),
            "{err}"
        );
        assert!(err.contains("'CN=C'"), "{err}");
        assert!(users_from_recipients(&[]).is_err());
    }
}
