//! May the cutover batch be removed yet? Only once mail flows to the target (the MX
//! switch was seen) and a sync ran after that, so no message that reached the source
//! before the switch is left behind.

use chrono::{DateTime, Duration, Utc};

/// Hours after the MX switch during which removal is allowed but warned about: DNS
/// caches may still send mail to the source (Microsoft advises waiting 72 hours).
pub const SETTLE_HOURS: i64 = 72;

/// What the guard says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Allow,
    /// Allowed, with a warning to print.
    Warn(String),
    /// Refused, with the explanation and what to do.
    Refuse(String),
}

/// The facts the rule needs.
#[derive(Debug, Clone, Copy)]
pub struct RemovalFacts {
    /// The batch was started at least once (a batch that never ran moved nothing).
    pub started: bool,
    /// The batch's Last Synced Time.
    pub last_synced: Option<DateTime<Utc>>,
    /// The latest first sighting of the MX switch over the batch's domains; `None` when
    /// some domain's switch was never seen.
    pub mx_switched: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    pub force: bool,
}

/// The rule for `batch remove`.
pub fn removal(f: RemovalFacts) -> Removal {
    if !f.started {
        return Removal::Allow;
    }
    let refuse = |why: String| {
        if f.force {
            Removal::Warn(format!("{why} (removing anyway: --force)"))
        } else {
            Removal::Refuse(why)
        }
    };
    let Some(switched) = f.mx_switched else {
        return refuse(
            "the MX switch was never seen: mail may still arrive at the source and would be \
             left behind. Point MX to the target, run `cutover dns check --domain DOMAIN` until \
             it reports MxPointsToTarget True, let an incremental sync run (`cutover batch start`), \
             then remove the batch; or use --force"
                .to_string(),
        );
    };
    match f.last_synced {
        Some(synced) if synced >= switched => {}
        synced => {
            let when = synced.map_or("never".to_string(), |t| t.to_rfc3339());
            return refuse(format!(
                "the batch last synced ({when}) before the MX switch was first seen ({}): mail \
                 that reached the source in between is not on the target yet. Run an incremental \
                 sync (`cutover batch start` then `cutover run`), then remove the batch; or use --force",
                switched.to_rfc3339()
            ));
        }
    }
    let since = f.now - switched;
    if since < Duration::hours(SETTLE_HOURS) {
        return Removal::Warn(format!(
            "the MX switch was first seen only {} h ago (less than {SETTLE_HOURS} h): servers \
             that cached the old MX may still deliver to the source for a while",
            since.num_hours()
        ));
    }
    Removal::Allow
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::hours(hours)
    }

    fn facts(last_synced: Option<i64>, mx: Option<i64>, now: i64, force: bool) -> RemovalFacts {
        RemovalFacts {
            started: true,
            last_synced: last_synced.map(t),
            mx_switched: mx.map(t),
            now: t(now),
            force,
        }
    }

    #[test]
    fn removal_waits_for_the_switch_and_a_sync_after_it() {
        // never seen
        assert!(
            matches!(removal(facts(Some(5), None, 100, false)), Removal::Refuse(m) if m.contains("never seen"))
        );
        // synced before the switch, or never
        assert!(
            matches!(removal(facts(Some(5), Some(10), 100, false)), Removal::Refuse(m) if m.contains("before the MX switch"))
        );
        assert!(matches!(
            removal(facts(None, Some(10), 100, false)),
            Removal::Refuse(_)
        ));
        // synced after the switch, long ago enough
        assert_eq!(
            removal(facts(Some(11), Some(10), 100, false)),
            Removal::Allow
        );
        assert_eq!(
            removal(facts(Some(10), Some(10), 82, false)),
            Removal::Allow
        );
        // too recent: a warning, not a refusal
        assert!(
            matches!(removal(facts(Some(11), Some(10), 20, false)), Removal::Warn(m) if m.contains("10 h ago"))
        );
    }

    #[test]
    fn force_turns_refusals_into_warnings_and_unstarted_batches_go_freely() {
        assert!(
            matches!(removal(facts(Some(5), None, 100, true)), Removal::Warn(m) if m.contains("--force"))
        );
        let mut f = facts(None, None, 100, false);
        f.started = false;
        assert_eq!(removal(f), Removal::Allow);
    }
}
