//! What the scheduler's `dav-pass` job needs from this crate: each side's account for a
//! user ([`account`]), from the stored settings and the users CSV, and how a pass's
//! result reads as the scheduler's [`Attempt`] ([`attempt`]), so that the same
//! decision table as the mail pass's makes of it a retry, a failure or a success.

use cutover_imap::TlsOptions;
use cutover_model::{DavAuth, DavSettings};
use cutover_sync::{Attempt, PassOutcome};
use http::StatusCode;
use secrecy::SecretString;

use crate::apply::ApplyError;
use crate::client::{DavAccount, DavError};
use crate::observe::ObserveError;
use crate::pass::{PassError, PassSummary};

/// The account that opens `user`'s calendars and address books on the side whose DAV
/// server `settings` describe (`side` names it in errors: "endpoint 'E'", "the
/// target"). `login` is the user's name there; `user_password` the users CSV's
/// Password.
pub fn account(
    settings: &DavSettings,
    side: &str,
    user: &str,
    login: &str,
    user_password: Option<&SecretString>,
) -> Result<DavAccount, String> {
    let password = match settings.auth {
        DavAuth::PerUser => user_password.cloned().ok_or_else(|| {
            format!(
                "the DAV server of {side} ({}) signs users in with their own passwords \
                 (--dav-auth per-user), but the users CSV gives no Password for {user}: \
                 give it one in the CSV and create the batch again",
                settings.url
            )
        })?,
    };
    Ok(DavAccount {
        url: settings.url.clone(),
        user: login.to_string(),
        password,
        tls: TlsOptions {
            ca_file: settings.ca_file.as_ref().map(Into::into),
        },
    })
}

/// How a DAV pass went, as the scheduler's decision table reads attempts: a pass that
/// went through; a refused sign-in, a bad URL or TLS set-up that trying again soon will
/// not mend; a server busy or unreachable (tried again); the store failing under the
/// pass comes back as the error, for the job to be given back.
pub fn attempt(result: &Result<PassSummary, PassError>) -> Result<Attempt, String> {
    let error = match result {
        Ok(summary) => {
            return Ok(Attempt::Passed(PassOutcome {
                copied: summary.applied.copied.events
                    + summary.applied.copied.tasks
                    + summary.applied.copied.contacts,
                skipped: summary.applied.skipped.len() as u64,
                ..PassOutcome::default()
            }));
        }
        Err(e) => e,
    };
    let dav = match error {
        PassError::Source(e) | PassError::Target(e) => e,
        PassError::Observe(ObserveError::Dav(e)) | PassError::Apply(ApplyError::Dav(e)) => e,
        PassError::Observe(ObserveError::Store(e))
        | PassError::Apply(ApplyError::Store(e))
        | PassError::Store(e) => return Err(e.to_string()),
    };
    let text = error.to_string();
    Ok(match dav {
        DavError::Url { .. } | DavError::Tls { .. } => Attempt::Failed { error: text },
        DavError::Status { status, .. } if refused_sign_in(*status) => Attempt::Failed {
            error: format!(
                "{text}: the user's login or password was refused (per-user sign-in takes \
                 the users CSV's Password)"
            ),
        },
        DavError::Status { status, .. }
            if *status == StatusCode::TOO_MANY_REQUESTS
                || *status == StatusCode::SERVICE_UNAVAILABLE =>
        {
            Attempt::Throttled {
                hint: None,
                error: text,
            }
        }
        DavError::Status { status, .. } if status.is_client_error() => {
            Attempt::Failed { error: text }
        }
        // 5xx, a dropped connection, a timeout: it may pass
        DavError::Status { .. } | DavError::Request { .. } => Attempt::Transient {
            error: text,
            progressed: false,
        },
        // reading one item: the apply step skips these; here they ended the pass
        DavError::TooLarge { .. } | DavError::NotText { .. } => Attempt::Failed { error: text },
    })
}

fn refused_sign_in(status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn settings() -> DavSettings {
        DavSettings {
            url: "https://dav.example.org/".into(),
            ca_file: Some("/etc/ca.pem".into()),
            auth: DavAuth::PerUser,
            discover: false,
            dns_server: None,
        }
    }

    #[test]
    fn a_per_user_account_takes_the_csv_password_and_says_when_there_is_none() {
        let pw = SecretString::from("ann-pw");
        let a = account(&settings(), "the target", "ann@x.test", "ann", Some(&pw)).unwrap();
        assert_eq!(
            (a.user.as_str(), a.password.expose_secret()),
            ("ann", "ann-pw")
        );
        assert_eq!(a.tls.ca_file.as_deref(), Some("/etc/ca.pem".as_ref()));
        let e = account(&settings(), "endpoint 'E'", "bob@x.test", "bob", None).unwrap_err();
        assert!(e.contains("no Password for bob@x.test"), "{e}");
        assert!(e.contains("endpoint 'E'"), "{e}");
        assert!(!format!("{a:?}").contains("ann-pw"));
    }

    fn status(code: u16) -> Result<PassSummary, PassError> {
        Err(PassError::Source(DavError::Status {
            what: "PROPFIND /".into(),
            server: "https://dav.example.org".into(),
            status: StatusCode::from_u16(code).unwrap(),
        }))
    }

    #[test]
    fn each_error_reads_as_its_attempt() {
        assert!(matches!(
            attempt(&Ok(PassSummary::default())),
            Ok(Attempt::Passed(_))
        ));
        let Ok(Attempt::Failed { error }) = attempt(&status(401)) else {
            panic!()
        };
        assert!(error.contains("login or password was refused"), "{error}");
        assert!(matches!(attempt(&status(404)), Ok(Attempt::Failed { .. })));
        assert!(matches!(
            attempt(&status(503)),
            Ok(Attempt::Throttled { .. })
        ));
        assert!(matches!(
            attempt(&status(502)),
            Ok(Attempt::Transient {
                progressed: false,
                ..
            })
        ));
        let dropped = Err(PassError::Target(DavError::Request {
            what: "PUT /x".into(),
            server: "s".into(),
            cause: "connection reset".into(),
        }));
        assert!(matches!(attempt(&dropped), Ok(Attempt::Transient { .. })));
        let url = Err(PassError::Target(DavError::Url {
            url: "http://x/".into(),
            reason: "plain http".into(),
        }));
        assert!(matches!(attempt(&url), Ok(Attempt::Failed { .. })));
        let store = Err(PassError::Store(cutover_store::StoreError::NotFound {
            what: "user",
            name: "x".into(),
        }));
        assert!(attempt(&store).is_err());
    }
}
