//! Servers that say "not so many at once": Dovecot's `mail_max_userip_connections`
//! ("Maximum number of connections from user+IP exceeded"), Exchange's "Request is
//! throttled. Suggested Backoff Time: N milliseconds", RFC 5530's `[UNAVAILABLE]` and
//! `[LIMIT]`. Such an answer fails nothing: the mailbox waits (the server's own hint when
//! it gives one) and tries again, and the number of mailboxes running at once towards
//! that batch backs off for every worker (`cutover_model::Aimd`, kept in the store by
//! the scheduler).
//!
//! [`throttle_of`] and [`wait_after`] are pure.

use std::time::Duration;

use cutover_imap::ImapError;

use crate::pass::SyncError;

/// A server's refusal for load, with the wait it asked for when it named one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub hint: Option<Duration>,
}

/// The wait when the server names none, and the longest one taken from a server's hint.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(2);
pub const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// Whether `text` (a NO's or BYE's text, with its code) is a refusal for load, and the
/// wait it suggests.
pub fn throttle_in_text(code: Option<&str>, text: &str) -> Option<Throttle> {
    let code = code
        .and_then(|c| c.split_ascii_whitespace().next())
        .map(str::to_ascii_uppercase);
    let lower = text.to_ascii_lowercase();
    let by_code = matches!(code.as_deref(), Some("UNAVAILABLE" | "LIMIT"));
    let by_text = lower.contains("maximum number of connections")
        || lower.contains("too many connections")
        || lower.contains("throttled")
        || lower.contains("[unavailable]")
        || lower.contains("[limit]");
    if !(by_code || by_text) {
        return None;
    }
    Some(Throttle {
        hint: suggested_backoff(&lower),
    })
}

/// Exchange's "Suggested Backoff Time: 1234 milliseconds".
fn suggested_backoff(lower: &str) -> Option<Duration> {
    let rest = &lower[lower.find("backoff time:")? + "backoff time:".len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let n: u64 = digits.parse().ok()?;
    let unit = rest.trim_start()[digits.len()..].trim_start();
    let wait = if unit.starts_with("ms") || unit.starts_with("milli") {
        Duration::from_millis(n)
    } else if unit.starts_with('s') {
        Duration::from_secs(n)
    } else {
        Duration::from_millis(n)
    };
    Some(wait.min(LONGEST_WAIT))
}

/// Whether an IMAP error is a refusal for load.
pub fn imap_throttle(e: &ImapError) -> Option<Throttle> {
    match e {
        // An APPEND's [LIMIT] is the message's size (Dovecot: "Mail size is larger than
        // the maximum size allowed"): a large item, not load.
        ImapError::No {
            command: "APPEND",
            code: Some(code),
            ..
        } if code.to_ascii_uppercase().starts_with("LIMIT") => None,
        ImapError::No { code, text, .. } => throttle_in_text(code.as_deref(), text),
        ImapError::Bye { text } | ImapError::AuthenticationFailed { text } => {
            throttle_in_text(None, text)
        }
        ImapError::ConnectionUnusable { cause, .. } => throttle_in_text(None, cause),
        ImapError::PartialAppend { source, .. } => imap_throttle(source),
        _ => None,
    }
}

/// Whether a pass failed because a server refused for load.
pub fn throttle_of(e: &SyncError) -> Option<Throttle> {
    match e {
        SyncError::Connect { source, .. }
        | SyncError::Login { source, .. }
        | SyncError::Folder { source, .. }
        | SyncError::Imap { source, .. } => imap_throttle(source),
        SyncError::Store(_) | SyncError::Stopped(_) => None,
    }
}

/// The wait before trying again after a refusal: the server's hint, else a wait that
/// doubles with each refusal in a row (2 s, 4 s, … at most 5 minutes).
pub fn wait_after(throttle: Throttle, refusals_in_a_row: u32) -> Duration {
    throttle.hint.unwrap_or_else(|| {
        DEFAULT_WAIT
            .saturating_mul(1u32 << refusals_in_a_row.saturating_sub(1).min(8))
            .min(LONGEST_WAIT)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_for_load_are_told_from_other_failures() {
        let dovecot = ImapError::Bye {
            text: "Maximum number of connections from user+IP exceeded (mail_max_userip_connections=2)"
                .into(),
        };
        assert_eq!(imap_throttle(&dovecot), Some(Throttle { hint: None }));
        let exchange = ImapError::No {
            command: "LOGIN",
            code: None,
            text: "Request is throttled. Suggested Backoff Time: 1234 milliseconds".into(),
        };
        assert_eq!(
            imap_throttle(&exchange),
            Some(Throttle {
                hint: Some(Duration::from_millis(1234))
            })
        );
        let unavailable = ImapError::No {
            command: "SELECT",
            code: Some("UNAVAILABLE".into()),
            text: "try later".into(),
        };
        assert!(imap_throttle(&unavailable).is_some());
        let limit = ImapError::No {
            command: "SELECT",
            code: Some("LIMIT".into()),
            text: "too many".into(),
        };
        assert!(imap_throttle(&limit).is_some());
        let too_big = ImapError::No {
            command: "APPEND",
            code: Some("LIMIT".into()),
            text: "Mail size is larger than the maximum size allowed by server configuration"
                .into(),
        };
        assert_eq!(imap_throttle(&too_big), None);
        let wrong_password = ImapError::AuthenticationFailed {
            text: "[AUTHENTICATIONFAILED] Authentication failed.".into(),
        };
        assert_eq!(imap_throttle(&wrong_password), None);
        let quota = ImapError::No {
            command: "APPEND",
            code: Some("OVERQUOTA".into()),
            text: "Quota exceeded".into(),
        };
        assert_eq!(imap_throttle(&quota), None);
        let huge = "Request is throttled. Suggested Backoff Time: 99999999 milliseconds";
        assert_eq!(
            throttle_in_text(None, huge).unwrap().hint,
            Some(LONGEST_WAIT)
        );
    }

    #[test]
    fn waits_double_without_a_hint_and_follow_it_with_one() {
        let none = Throttle { hint: None };
        assert_eq!(wait_after(none, 1), Duration::from_secs(2));
        assert_eq!(wait_after(none, 2), Duration::from_secs(4));
        assert_eq!(wait_after(none, 30), LONGEST_WAIT);
        let hinted = Throttle {
            hint: Some(Duration::from_millis(700)),
        };
        assert_eq!(wait_after(hinted, 5), Duration::from_millis(700));
    }
}
