//! Notification e-mails (New-/Set-MigrationBatch -NotificationEmails, -ReportInterval,
//! -SkipReports): when a batch's initial sync finishes, when users fail, and every report
//! interval, a short summary with MigrationStatistics.csv and MigrationErrors.csv
//! attached goes to the batch's notification addresses through the installation's SMTP
//! relay (`cutover notify set`).
//!
//! [`due`] decides what is due (pure), [`mail`] writes the mail (lettre's builder); this
//! module is the IO: [`Notifier::round`], which `cutover run` and `cutover serve` call
//! after each round of passes, reads the store, sends, and records what the relay took.
//! A mail that cannot be sent is logged with what to do and sent on a later round, not
//! before [`RETRY_AFTER`] (serve's rounds are seconds apart: a relay that refuses a login
//! is not asked again and again); it never fails the migration. TLS to the relay is strict, as for IMAP: the public roots
//! plus the relay's private CA (`--ca-file`), never "accept invalid certificates".

pub mod due;
pub mod mail;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cutover_model::{Batch, EmailAddress, SmtpRelay, SmtpTls};
use cutover_store::{Store, StoreError};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use tracing::{info, warn};

use crate::control;
use crate::report::{errors_csv, statistics_csv};
use crate::views::BatchView;
use due::{Notice, NoticeFacts, forget_recovered, notices_due, record_sent};
use mail::BatchReport;

/// How long one SMTP command may take before the relay counts as unreachable.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after a failed round the next one tries the relay again.
pub const RETRY_AFTER: chrono::Duration = chrono::Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(
        "no SMTP relay is set for the notification e-mails; run `cutover notify set \
         --smtp-host HOST --tls starttls --from ADDRESS [--user USER --password-file FILE]`"
    )]
    NoRelay,
    #[error(
        "cannot read the CA file {} of the SMTP relay {relay}: {reason}; give a readable PEM \
         file with `cutover notify set ... --ca-file PEM`", path.display()
    )]
    CaFile {
        relay: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "the SMTP relay {relay} has a login ('{user}') but no stored password; run `cutover \
         notify set ... --user {user} --password-file FILE`"
    )]
    NoPassword { relay: String, user: String },
    #[error("cannot write the notification mail: {0}")]
    Compose(String),
    /// The relay did not take the mail; `hint` says what to do.
    #[error("the SMTP relay {relay} did not take the mail: {reason}; {hint}")]
    Send {
        relay: String,
        reason: String,
        hint: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Control(#[from] control::ControlError),
}

/// Whether settings make sense before they are stored: no password in clear over the
/// network.
pub fn check_relay(relay: &SmtpRelay, has_login: bool) -> Result<(), String> {
    if relay.host.trim().is_empty() {
        return Err("--smtp-host: the relay's host name is empty".into());
    }
    if relay.tls == SmtpTls::None && has_login && !is_loopback(&relay.host) {
        return Err(format!(
            "--tls none with --user would send the relay's password in clear to {}; use \
             --tls starttls or --tls implicit (plain SMTP is only for a relay on loopback)",
            relay.host
        ));
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The relay with its password, ready to send.
pub struct Relay {
    settings: SmtpRelay,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Relay {
    /// The stored relay, or [`NotifyError::NoRelay`].
    pub async fn from_store(store: &dyn Store) -> Result<Self, NotifyError> {
        let settings = store.smtp_relay().await?.ok_or(NotifyError::NoRelay)?;
        let password = store.smtp_relay_password().await?;
        Self::new(settings, password.as_ref())
    }

    pub fn new(settings: SmtpRelay, password: Option<&SecretString>) -> Result<Self, NotifyError> {
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(tls_parameters(&settings)?),
            SmtpTls::Implicit => Tls::Wrapper(tls_parameters(&settings)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(user) = &settings.user {
            let password = password.ok_or_else(|| NotifyError::NoPassword {
                relay: settings.address(),
                user: user.clone(),
            })?;
            builder = builder
                .credentials(Credentials::new(
                    user.clone(),
                    password.expose_secret().to_string(),
                ))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(Self {
            transport: builder.build(),
            settings,
        })
    }

    pub fn settings(&self) -> &SmtpRelay {
        &self.settings
    }

    /// Hands the mail to the relay.
    pub async fn send(&self, message: Message) -> Result<(), NotifyError> {
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| NotifyError::Send {
                relay: self.settings.address(),
                hint: hint(&self.settings, &e),
                reason: e.to_string(),
            })
    }
}

/// Public roots plus the relay's private CA; the certificate must name the host.
fn tls_parameters(relay: &SmtpRelay) -> Result<TlsParameters, NotifyError> {
    let mut builder = TlsParameters::builder(relay.host.clone());
    if let Some(path) = &relay.ca_file {
        let ca_error = |reason: String| NotifyError::CaFile {
            relay: relay.address(),
            path: PathBuf::from(path),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| ca_error(format!("not a PEM certificate ({e})")))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|e| NotifyError::Send {
        relay: relay.address(),
        reason: e.to_string(),
        hint: "check the relay's TLS settings with `cutover notify show`".into(),
    })
}

/// What the admin does about a mail the relay did not take.
fn hint(relay: &SmtpRelay, e: &lettre::transport::smtp::Error) -> String {
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    if matches!(code.as_str(), "530" | "534" | "535" | "538" | "454") && relay.user.is_some() {
        return format!(
            "the relay refused the login of '{}': set the right password with `cutover notify \
             set ... --user {} --password-file FILE` (or --password-env VAR), then `cutover \
             notify test ADDRESS`",
            relay.user.as_deref().unwrap_or_default(),
            relay.user.as_deref().unwrap_or_default()
        );
    }
    if code == "530" {
        return "the relay wants a login: `cutover notify set ... --user USER --password-file FILE`"
            .into();
    }
    if e.is_tls() || is_tls_refusal(e) {
        return format!(
            "the relay's certificate is not trusted or does not name {}: give the CA that \
             signed it with `cutover notify set ... --ca-file PEM`, and check --tls \
             (starttls or implicit)",
            relay.host
        );
    }
    if e.is_permanent() {
        return "the relay refused it for good: check --from and the notification addresses \
                (`cutover notify show`, `cutover batch get`)"
            .into();
    }
    "check that the relay is up and that host, port and --tls are right (`cutover notify \
     show`), then `cutover notify test ADDRESS`"
        .into()
}

/// Whether TLS refused the relay (its certificate, most often): lettre reports a failed
/// handshake as a connection error, with rustls's error inside.
fn is_tls_refusal(e: &lettre::transport::smtp::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        let io_inner = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.is::<rustls::Error>());
        if c.is::<rustls::Error>() || io_inner {
            return true;
        }
        cause = c.source();
    }
    false
}

/// What a round of notifications did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NotifyRound {
    /// (batch, subject) of each mail the relay took.
    pub sent: Vec<(String, String)>,
    /// Each failure, with what to do (also logged).
    pub failed: Vec<String>,
}

/// The notification rounds of one process (`run`, `serve`): after a round in which a
/// mail could not be sent, the next ones wait [`RETRY_AFTER`] before trying again.
#[derive(Debug, Default)]
pub struct Notifier {
    retry_at: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl Notifier {
    /// Sends what is due now ([`send_due_notices`]), unless a failure asked to wait.
    pub async fn round(&self, store: &dyn Store, now: DateTime<Utc>) -> NotifyRound {
        let waiting = *self.retry_at.lock().unwrap_or_else(|p| p.into_inner());
        if waiting.is_some_and(|at| now < at) {
            return NotifyRound::default();
        }
        let round = send_due_notices(store, now).await;
        *self.retry_at.lock().unwrap_or_else(|p| p.into_inner()) =
            (!round.failed.is_empty()).then(|| now + RETRY_AFTER);
        round
    }
}

/// Sends every notice due now for every batch, and records what the relay took. Never
/// fails: what goes wrong is logged, and what was not sent is due again next round.
pub async fn send_due_notices(store: &dyn Store, now: DateTime<Utc>) -> NotifyRound {
    let mut round = NotifyRound::default();
    let mut relay: Option<Relay> = None;
    let batches = match store.batches().await {
        Ok(b) => b,
        Err(e) => {
            round.failed.push(format!("notifications: {e}"));
            warn!(error = %e, "cannot read the batches for their notifications");
            return round;
        }
    };
    for batch in batches
        .into_iter()
        .filter(|b| !b.notification_emails.is_empty())
    {
        if let Err(e) = notify_batch(store, &batch, now, &mut relay, &mut round).await {
            let text = format!("notification of batch '{}': {e}", batch.name);
            warn!("{text}");
            round.failed.push(text);
        }
    }
    round
}

async fn notify_batch(
    store: &dyn Store,
    batch: &Batch,
    now: DateTime<Utc>,
    relay: &mut Option<Relay>,
    round: &mut NotifyRound,
) -> Result<(), NotifyError> {
    let name = batch.name.as_str();
    let users = store.users(Some(name), None).await?;
    let statuses: Vec<(EmailAddress, _)> =
        users.iter().map(|u| (u.email.clone(), u.status)).collect();
    let stored = store.notification_record(name).await?;
    let mut record = forget_recovered(&stored, &statuses);
    let due = notices_due(&NoticeFacts {
        batch,
        users: &statuses,
        sent: &record,
        now,
    });
    if !due.is_empty() {
        if relay.is_none() {
            *relay = Some(Relay::from_store(store).await?);
        }
        let relay = relay.as_ref().expect("set above");
        let (_, stats) = control::batch_report(store, name).await?;
        let report = BatchReport {
            view: BatchView::new(batch, &users),
            statistics_csv: statistics_csv(&stats),
            errors_csv: errors_csv(&stats),
        };
        for notice in &due {
            match send_notice(relay, batch, notice, &report).await {
                Ok(subject) => {
                    info!(batch = name, subject, "notification mail sent");
                    round.sent.push((name.to_string(), subject));
                    record = record_sent(&record, notice, now);
                }
                Err(e) => {
                    let text = format!(
                        "notification of batch '{name}': {e}; the mail is sent again on the \
                         next round"
                    );
                    warn!("{text}");
                    round.failed.push(text);
                }
            }
        }
    }
    if record != stored {
        store.save_notification_record(name, &record).await?;
    }
    Ok(())
}

async fn send_notice(
    relay: &Relay,
    batch: &Batch,
    notice: &Notice,
    report: &BatchReport,
) -> Result<String, NotifyError> {
    let message = mail::compose(
        &relay.settings.from,
        &batch.notification_emails,
        notice,
        report,
    )
    .map_err(|e| NotifyError::Compose(e.to_string()))?;
    let subject = mail::subject(batch.name.as_str(), notice);
    relay.send(message).await?;
    Ok(subject)
}

/// `cutover notify test ADDRESS`: a short mail through the stored relay.
pub async fn send_test(store: &dyn Store, to: &EmailAddress) -> Result<SmtpRelay, NotifyError> {
    let relay = Relay::from_store(store).await?;
    let message = mail::compose_test(&relay.settings.from, to, &relay.settings.address())
        .map_err(|e| NotifyError::Compose(e.to_string()))?;
    relay.send(message).await?;
    Ok(relay.settings)
}

#[cfg(test)]
mod tests {
    use cutover_model::{
        BatchStatus, Compression, Connection, Endpoint, Impersonation, Name, Security,
    };
    use cutover_store::{NewUser, NotificationStore, SqliteStore};

    use super::*;

    /// A store with a started batch whose initial sync is done, mailing `admin@`, and a
    /// relay on a loopback port where nothing listens.
    async fn store_with_a_dead_relay() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let store = SqliteStore::open(&url, None).await.unwrap();
        let endpoint = Endpoint {
            name: Name::parse("endpoint", "E").unwrap(),
            connection: Connection {
                server: "127.0.0.1".into(),
                port: 143,
                security: Security::None,
                admin: "admin".into(),
                impersonation: Impersonation::Authzid,
                ca_file: None,
                compression: Compression::Auto,
                oauth: None,
                dav: None,
            },
            max_concurrent_migrations: 100,
            max_concurrent_incremental_syncs: 20,
            created_at: Utc::now(),
        };
        store
            .insert_endpoint(&endpoint, &SecretString::from("p".to_string()))
            .await
            .unwrap();
        let batch = Batch {
            status: BatchStatus::Synced,
            started_at: Some(Utc::now()),
            initial_sync_at: Some(Utc::now()),
            notification_emails: vec!["admin@contoso.test".parse().unwrap()],
            ..Batch::new(
                Name::parse("batch", "B").unwrap(),
                endpoint.name.clone(),
                Utc::now(),
            )
        };
        let user = NewUser {
            email: "a@contoso.test".parse().unwrap(),
            source_login: None,
            password: None,
            kind: cutover_model::RecipientKind::Mailbox,
        };
        store.create_batch(&batch, &[user]).await.unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let relay = SmtpRelay {
            host: "127.0.0.1".into(),
            port: closed,
            tls: SmtpTls::None,
            from: "cutover@contoso.test".parse().unwrap(),
            user: None,
            ca_file: None,
            updated_at: Utc::now(),
        };
        store.set_smtp_relay(&relay, None).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_mail_the_relay_did_not_take_is_not_recorded_and_retried_later() {
        let (_dir, store) = store_with_a_dead_relay().await;
        let notifier = Notifier::default();
        let now = Utc::now();
        let first = notifier.round(&store, now).await;
        assert!(first.sent.is_empty(), "{first:?}");
        assert_eq!(first.failed.len(), 1, "{first:?}");
        assert!(first.failed[0].contains("127.0.0.1:"), "{first:?}");
        assert!(first.failed[0].contains("next round"), "{first:?}");
        assert_eq!(
            store.notification_record("B").await.unwrap(),
            cutover_store::NotificationRecord::default(),
            "nothing is recorded as sent"
        );
        // Rounds seconds apart leave the relay alone for a while...
        let soon = notifier
            .round(&store, now + chrono::Duration::seconds(2))
            .await;
        assert_eq!(soon, NotifyRound::default());
        // ...then try again.
        let later = notifier.round(&store, now + RETRY_AFTER).await;
        assert_eq!(later.failed.len(), 1, "{later:?}");
    }

    fn relay(tls: SmtpTls, host: &str) -> SmtpRelay {
        SmtpRelay {
            host: host.into(),
            port: 25,
            tls,
            from: "cutover@contoso.test".parse().unwrap(),
            user: Some("cutover".into()),
            ca_file: None,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn no_password_in_clear_over_the_network() {
        assert!(check_relay(&relay(SmtpTls::None, "smtp.contoso.test"), true).is_err());
        assert!(check_relay(&relay(SmtpTls::None, "smtp.contoso.test"), false).is_ok());
        assert!(check_relay(&relay(SmtpTls::None, "127.0.0.1"), true).is_ok());
        assert!(check_relay(&relay(SmtpTls::StartTls, "smtp.contoso.test"), true).is_ok());
    }

    #[test]
    fn a_missing_ca_file_is_named_with_what_to_do() {
        let mut r = relay(SmtpTls::StartTls, "smtp.contoso.test");
        r.ca_file = Some("/nonexistent/ca.pem".into());
        let Err(e) = Relay::new(r, None) else {
            panic!("a missing CA file is an error")
        };
        let text = e.to_string();
        assert!(text.contains("/nonexistent/ca.pem"), "{text}");
        assert!(text.contains("--ca-file"), "{text}");
    }
}
