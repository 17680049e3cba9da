//! Servers that say "not so many at once": Dovecot's `mail_max_userip_connections`
//! ("Maximum number of connections from user+IP exceeded"), Exchange's "Request is
//! throttled. Suggested Backoff Time: N milliseconds", RFC 5530's `[UNAVAILABLE]` and
//! `[LIMIT]`. Such an answer fails nothing: the mailbox waits (the server's own hint when
//! it gives one) and tries again, and the number of mailboxes running at once towards
//! that batch backs off (halved at each refusal, one more after as many passes as run at
//! once went through: additive increase, multiplicative decrease).
//!
//! [`throttle_of`] and [`Aimd`] are pure; [`Gate`] holds the current limit for the
//! mailboxes of one run.

use std::sync::Mutex;
use std::time::Duration;

use cutover_imap::ImapError;
use tokio::sync::Notify;
use tokio::time::Instant;

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

/// Additive increase, multiplicative decrease of how many mailboxes run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aimd {
    limit: u32,
    /// Passes through since the limit last changed; `limit` of them add one.
    credits: u32,
    /// The admin's MaxConcurrent… setting: never more.
    max: u32,
}

impl Aimd {
    pub fn new(max: u32) -> Self {
        let max = max.max(1);
        Self {
            limit: max,
            credits: 0,
            max,
        }
    }

    /// How many may run at once now.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// A server refused: half as many (at least one).
    pub fn throttled(&mut self) {
        self.limit = (self.limit / 2).max(1);
        self.credits = 0;
    }

    /// A pass went through: one more once as many as run at once went through.
    pub fn succeeded(&mut self) {
        if self.limit >= self.max {
            return;
        }
        self.credits += 1;
        if self.credits >= self.limit {
            self.limit += 1;
            self.credits = 0;
        }
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

#[derive(Debug)]
struct GateState {
    aimd: Aimd,
    running: u32,
    /// No one enters before this (the wait a refusal asked for).
    closed_until: Option<Instant>,
}

/// How many passes of one run may talk to the servers at once, after their refusals.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<GateState>,
    changed: Notify,
}

/// A pass inside the gate; leaving says how it went.
#[derive(Debug)]
pub struct Inside<'a> {
    gate: &'a Gate,
    left: bool,
}

impl Gate {
    pub fn new(max: u32) -> Self {
        Self {
            state: Mutex::new(GateState {
                aimd: Aimd::new(max),
                running: 0,
                closed_until: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        self.lock().aimd.limit()
    }

    /// Waits until fewer than the limit run and no refusal's wait is on.
    pub async fn enter(&self) -> Inside<'_> {
        loop {
            let notified = self.changed.notified();
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                match s.closed_until {
                    Some(until) if until > now => Some(until - now),
                    _ if s.running < s.aimd.limit() => {
                        s.running += 1;
                        return Inside {
                            gate: self,
                            left: false,
                        };
                    }
                    _ => None,
                }
            };
            match wait {
                Some(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    fn leave(&self, outcome: Option<Duration>) {
        let mut s = self.lock();
        s.running = s.running.saturating_sub(1);
        match outcome {
            None => s.aimd.succeeded(),
            Some(wait) => {
                s.aimd.throttled();
                let until = Instant::now() + wait;
                s.closed_until = Some(s.closed_until.map_or(until, |u| u.max(until)));
            }
        }
        drop(s);
        self.changed.notify_waiters();
    }
}

impl Inside<'_> {
    /// The pass went through (or failed for another reason than load).
    pub fn done(mut self) {
        self.left = true;
        self.gate.leave(None);
    }

    /// A server refused for load: fewer at once, and no one enters for `wait`.
    pub fn throttled(mut self, wait: Duration) {
        self.left = true;
        self.gate.leave(Some(wait));
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        if !self.left {
            let mut s = self.gate.lock();
            s.running = s.running.saturating_sub(1);
            drop(s);
            self.gate.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
        #[test]
        fn the_limit_stays_between_one_and_the_admins_and_halves_at_a_refusal(
            max in 1u32..200, events in proptest::collection::vec(any::<bool>(), 0..400),
        ) {
            let mut a = Aimd::new(max);
            prop_assert_eq!(a.limit(), max);
            for ok in events {
                let before = a.limit();
                if ok {
                    a.succeeded();
                    prop_assert!(a.limit() >= before && a.limit() <= (before + 1).min(max));
                } else {
                    a.throttled();
                    prop_assert_eq!(a.limit(), (before / 2).max(1));
                }
                prop_assert!(a.limit() >= 1 && a.limit() <= max);
            }
        }

        #[test]
        fn after_a_refusal_as_many_successes_as_run_at_once_add_one(max in 4u32..100) {
            let mut a = Aimd::new(max);
            a.throttled();
            let low = a.limit();
            for _ in 0..low {
                a.succeeded();
            }
            prop_assert_eq!(a.limit(), low + 1);
        }
    }

    #[tokio::test]
    async fn the_gate_lets_in_no_more_than_its_limit_and_closes_for_a_refusal_s_wait() {
        tokio::time::pause();
        let gate = Gate::new(4);
        let a = gate.enter().await;
        let b = gate.enter().await;
        a.throttled(Duration::from_secs(10));
        assert_eq!(gate.limit(), 2);
        // Closed for 10 s, then one more may enter beside b (limit 2).
        let started = Instant::now();
        let c = gate.enter().await;
        assert!(Instant::now() - started >= Duration::from_secs(10));
        let waiting = tokio::time::timeout(Duration::from_secs(60), gate.enter()).await;
        assert!(waiting.is_err(), "a third entered a gate of two");
        b.done();
        let d = tokio::time::timeout(Duration::from_secs(1), gate.enter())
            .await
            .expect("b's place");
        c.done();
        drop(d);
    }
}
