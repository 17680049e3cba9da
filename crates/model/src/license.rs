//! Licenses (the seed's Section 7): a provisioned user needs a license within a grace
//! period (30 days by default), or its login on the target is disabled when the grace
//! period ends; a license assigned later gives the login back.
//!
//! Everything here is pure: [`license_status`] says where one user stands (what `license
//! get` shows), [`decide_logins`] which logins to disable and which to enable again,
//! over plain facts the store and the provisioning record give. The directory applies
//! the decision, the store records it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::EmailAddress;

/// Exchange Online's grace period: 30 days.
pub const DEFAULT_GRACE_SECONDS: i64 = 30 * 24 * 3600;

const DAY: i64 = 24 * 3600;

/// How long a provisioned user may stay unlicensed before its login is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GracePeriod {
    seconds: i64,
}

impl Default for GracePeriod {
    fn default() -> Self {
        Self {
            seconds: DEFAULT_GRACE_SECONDS,
        }
    }
}

impl GracePeriod {
    /// At most 100 years; not negative.
    pub const MAX_SECONDS: i64 = 100 * 366 * DAY;

    pub fn from_seconds(seconds: i64) -> Result<Self, String> {
        if !(0..=Self::MAX_SECONDS).contains(&seconds) {
            return Err(format!(
                "a grace period of {seconds} seconds is out of range (0 to {} seconds)",
                Self::MAX_SECONDS
            ));
        }
        Ok(Self { seconds })
    }

    pub fn seconds(self) -> i64 {
        self.seconds
    }

    pub fn delta(self) -> TimeDelta {
        TimeDelta::seconds(self.seconds)
    }
}

/// `30` (days), `30d`, `12h`, `90m` or `45s`: days unless a unit says otherwise, as the
/// seed counts the grace period in days; hours, minutes and seconds are for trying the
/// enforcement out (and for tests).
impl FromStr for GracePeriod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
            Some(i) => t.split_at(i),
            None => (t.as_str(), "d"),
        };
        let per = match unit.trim() {
            "d" | "day" | "days" => DAY,
            "h" | "hour" | "hours" => 3600,
            "m" | "min" | "minutes" => 60,
            "s" | "sec" | "seconds" => 1,
            _ => {
                return Err(format!(
                    "grace period '{s}': expected a number of days (30), or a number with d, h, m or s (12h, 90s)"
                ));
            }
        };
        let n: i64 = digits.parse().map_err(|_| {
            format!("grace period '{s}': expected a number of days (30), or a number with d, h, m or s (12h, 90s)")
        })?;
        Self::from_seconds(n.saturating_mul(per)).map_err(|e| format!("grace period '{s}': {e}"))
    }
}

/// Whole days when it is a whole number of days, else the largest unit that divides it.
impl fmt::Display for GracePeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        if s % DAY == 0 {
            write!(f, "{}d", s / DAY)
        } else if s % 3600 == 0 {
            write!(f, "{}h", s / 3600)
        } else if s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

/// A user the target directory holds because we provisioned it, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedUser {
    pub email: EmailAddress,
    pub provisioned_at: DateTime<Utc>,
}

/// Where one provisioned user stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseStatus {
    /// At least one license: its login stays (or comes back).
    Licensed,
    /// No license, the grace period runs until `ends_at`.
    Grace {
        ends_at: DateTime<Utc>,
        /// Days left, rounded up (a grace period that ends in an hour has 1 day left).
        days_left: u64,
    },
    /// No license and the grace period is over: its login is disabled (or is about to
    /// be, by the next enforcement).
    Expired { ended_at: DateTime<Utc> },
}

impl LicenseStatus {
    /// The word `license get` shows.
    pub fn as_str(&self) -> &'static str {
        match self {
            LicenseStatus::Licensed => "Licensed",
            LicenseStatus::Grace { .. } => "Unlicensed",
            LicenseStatus::Expired { .. } => "GracePeriodEnded",
        }
    }
}

/// Where a user stands, from when it was provisioned, whether it holds a license, the
/// grace period and the time now.
pub fn license_status(
    provisioned_at: DateTime<Utc>,
    licensed: bool,
    grace: GracePeriod,
    now: DateTime<Utc>,
) -> LicenseStatus {
    if licensed {
        return LicenseStatus::Licensed;
    }
    let ends_at = provisioned_at
        .checked_add_signed(grace.delta())
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if now >= ends_at {
        return LicenseStatus::Expired { ended_at: ends_at };
    }
    let left = (ends_at - now).num_seconds().max(1);
    LicenseStatus::Grace {
        ends_at,
        days_left: u64::try_from((left + DAY - 1) / DAY).unwrap_or(u64::MAX),
    }
}

/// What the enforcement changes on the target: logins to disable, logins to give back.
/// Both sorted, never the same user in both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginChanges {
    pub disable: Vec<EmailAddress>,
    pub enable: Vec<EmailAddress>,
}

impl LoginChanges {
    pub fn is_empty(&self) -> bool {
        self.disable.is_empty() && self.enable.is_empty()
    }
}

/// Which logins to disable and which to enable again:
/// * a provisioned user without a license whose grace period is over, and whose login
///   is not disabled yet, is disabled;
/// * a user whose login we disabled and that now has a license, or whose grace period
///   runs again (the admin lengthened it), gets its login back;
/// * a user we disabled that is no longer among the provisioned users is left as it
///   is: a record that is missing is not a reason to give a login back, nor to take one.
///
/// `assignments` are (user, SKU) pairs; users there that are not provisioned do not
/// matter.
pub fn decide_logins(
    users: &[ProvisionedUser],
    assignments: &[(EmailAddress, String)],
    grace: GracePeriod,
    now: DateTime<Utc>,
    disabled: &BTreeSet<EmailAddress>,
) -> LoginChanges {
    let licensed: BTreeSet<&EmailAddress> = assignments.iter().map(|(u, _)| u).collect();
    // One provisioning time per user: the earliest, should a user appear twice.
    let mut since: BTreeMap<&EmailAddress, DateTime<Utc>> = BTreeMap::new();
    for u in users {
        since
            .entry(&u.email)
            .and_modify(|t| *t = (*t).min(u.provisioned_at))
            .or_insert(u.provisioned_at);
    }
    let mut changes = LoginChanges::default();
    for (email, at) in since {
        let expired = matches!(
            license_status(at, licensed.contains(email), grace, now),
            LicenseStatus::Expired { .. }
        );
        match (expired, disabled.contains(email)) {
            (true, false) => changes.disable.push(email.clone()),
            (false, true) => changes.enable.push(email.clone()),
            (true, true) | (false, false) => {}
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn addr(s: &str) -> EmailAddress {
        s.parse().unwrap()
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn user(s: &str, at: i64) -> ProvisionedUser {
        ProvisionedUser {
            email: addr(s),
            provisioned_at: t(at),
        }
    }

    #[test]
    fn grace_periods_parse_in_days_by_default_and_show_back() {
        let g: GracePeriod = "30".parse().unwrap();
        assert_eq!(g, GracePeriod::default());
        assert_eq!(g.to_string(), "30d");
        assert_eq!("12h".parse::<GracePeriod>().unwrap().seconds(), 12 * 3600);
        assert_eq!("90 s".parse::<GracePeriod>().unwrap().to_string(), "90s");
        assert_eq!("90m".parse::<GracePeriod>().unwrap().to_string(), "90m");
        assert_eq!("0".parse::<GracePeriod>().unwrap().seconds(), 0);
        for bad in ["", "-1", "ten", "3w", "99999999999999d"] {
            let e = bad.parse::<GracePeriod>().unwrap_err();
            assert!(e.contains("grace period"), "{bad}: {e}");
        }
    }

    #[test]
    fn days_left_round_up_and_end_at_the_grace_period() {
        let g = GracePeriod::default();
        assert_eq!(
            license_status(t(0), false, g, t(0)),
            LicenseStatus::Grace {
                ends_at: t(30 * DAY),
                days_left: 30
            }
        );
        assert_eq!(
            license_status(t(0), false, g, t(30 * DAY - 1)),
            LicenseStatus::Grace {
                ends_at: t(30 * DAY),
                days_left: 1
            }
        );
        assert_eq!(
            license_status(t(0), false, g, t(30 * DAY)),
            LicenseStatus::Expired {
                ended_at: t(30 * DAY)
            }
        );
        assert_eq!(
            license_status(t(0), true, g, t(99 * DAY)),
            LicenseStatus::Licensed
        );
    }

    #[test]
    fn an_unlicensed_user_past_its_grace_is_disabled_and_a_licensed_one_comes_back() {
        let g = GracePeriod::from_seconds(60).unwrap();
        let users = [
            user("a@x.test", 0),
            user("b@x.test", 0),
            user("c@x.test", 50),
        ];
        let assignments = [(addr("b@x.test"), "E3".to_string())];
        let disabled = BTreeSet::from([addr("b@x.test")]);
        let c = decide_logins(&users, &assignments, g, t(61), &disabled);
        assert_eq!(c.disable, vec![addr("a@x.test")]);
        assert_eq!(c.enable, vec![addr("b@x.test")]);
    }

    #[test]
    fn a_longer_grace_gives_the_login_back_and_an_unknown_user_is_left_alone() {
        let users = [user("a@x.test", 0)];
        let disabled = BTreeSet::from([addr("a@x.test"), addr("gone@x.test")]);
        let c = decide_logins(&users, &[], GracePeriod::default(), t(3600), &disabled);
        assert_eq!(c.enable, vec![addr("a@x.test")]);
        assert!(c.disable.is_empty());
    }

    /// Provisioned users, assignments, grace period, now (seconds), disabled logins.
    type Facts = (
        Vec<ProvisionedUser>,
        Vec<(EmailAddress, String)>,
        GracePeriod,
        i64,
        BTreeSet<EmailAddress>,
    );

    fn facts() -> impl Strategy<Value = Facts> {
        let name = 0u8..12;
        (
            prop::collection::vec((name.clone(), 0i64..1000), 0..12),
            prop::collection::vec((name.clone(), 0u8..3), 0..10),
            0i64..600,
            0i64..2000,
            prop::collection::btree_set(name, 0..8),
        )
            .prop_map(|(users, assigned, grace, now, disabled)| {
                let a = |n: u8| addr(&format!("u{n}@x.test"));
                (
                    users
                        .into_iter()
                        .map(|(n, at)| ProvisionedUser {
                            email: a(n),
                            provisioned_at: t(at),
                        })
                        .collect(),
                    assigned
                        .into_iter()
                        .map(|(n, s)| (a(n), format!("SKU{s}")))
                        .collect(),
                    GracePeriod::from_seconds(grace).unwrap(),
                    now,
                    disabled.into_iter().map(a).collect(),
                )
            })
    }

    /// The logins disabled after applying the changes.
    fn apply(disabled: &BTreeSet<EmailAddress>, c: &LoginChanges) -> BTreeSet<EmailAddress> {
        let mut out = disabled.clone();
        out.extend(c.disable.iter().cloned());
        for e in &c.enable {
            out.remove(e);
        }
        out
    }

    proptest! {
        #[test]
        fn after_the_changes_exactly_the_expired_unlicensed_users_are_disabled(
            (users, assignments, grace, now, disabled) in facts()
        ) {
            let c = decide_logins(&users, &assignments, grace, t(now), &disabled);
            // Never both ways, only real changes, sorted.
            prop_assert!(c.disable.iter().all(|e| !c.enable.contains(e)));
            prop_assert!(c.disable.iter().all(|e| !disabled.contains(e)));
            prop_assert!(c.enable.iter().all(|e| disabled.contains(e)));
            prop_assert!(c.disable.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(c.enable.windows(2).all(|w| w[0] < w[1]));
            let after = apply(&disabled, &c);
            let licensed: BTreeSet<_> = assignments.iter().map(|(u, _)| u.clone()).collect();
            for u in &users {
                let first = users.iter().filter(|v| v.email == u.email).map(|v| v.provisioned_at).min().unwrap();
                let over = t(now) >= first + grace.delta();
                let should = over && !licensed.contains(&u.email);
                prop_assert_eq!(after.contains(&u.email), should, "{}", u.email);
            }
            // Users we do not know are left as they were.
            for d in &disabled {
                if !users.iter().any(|u| &u.email == d) {
                    prop_assert!(after.contains(d));
                }
            }
            // Deciding again on the new state changes nothing.
            prop_assert!(decide_logins(&users, &assignments, grace, t(now), &after).is_empty());
        }

        #[test]
        fn time_passing_never_gives_a_login_back_nor_a_license_takes_one(
            (users, assignments, grace, now, disabled) in facts(),
            later in 0i64..2000,
            extra in 0u8..12,
        ) {
            let c = decide_logins(&users, &assignments, grace, t(now), &disabled);
            let after = apply(&disabled, &c);
            let c2 = decide_logins(&users, &assignments, grace, t(now + later), &after);
            prop_assert!(c2.enable.is_empty(), "{:?}", c2);
            let mut more = assignments.clone();
            more.push((addr(&format!("u{extra}@x.test")), "E5".into()));
            let c3 = decide_logins(&users, &more, grace, t(now), &after);
            prop_assert!(c3.disable.is_empty(), "{:?}", c3);
        }
    }
}
