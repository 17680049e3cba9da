//! Batch and user statuses, named as Exchange Online names them, and the rules that
//! move them. A cutover batch is never "completed": after its initial sync it stays
//! Synced (re-syncing on its interval) until the admin removes it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| {
                        let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        format!("unknown {} '{}'; expected one of {}", stringify!($name), s, names.join(", "))
                    })
            }
        }
    };
}

named_enum!(
    /// Where a migration batch is in its life.
    BatchStatus {
        Created,
        Syncing,
        Synced,
        SyncedWithErrors,
        Stopping,
        Stopped,
        Failed,
        Removing,
    }
);

named_enum!(
    /// Where one migration user (mailbox) is.
    UserStatus {
        Queued,
        Provisioning,
        Syncing,
        Synced,
        IncrementalSyncing,
        Stopped,
        Failed,
    }
);

impl BatchStatus {
    /// Whether `batch start` may act on a batch in this status, and why not.
    pub fn check_start(self) -> Result<(), String> {
        match self {
            BatchStatus::Created
            | BatchStatus::Stopped
            | BatchStatus::Failed
            | BatchStatus::Synced
            | BatchStatus::SyncedWithErrors => Ok(()),
            BatchStatus::Syncing => Err("it is already syncing".into()),
            BatchStatus::Stopping => {
                Err("it is stopping; wait until it is Stopped, then start it again".into())
            }
            BatchStatus::Removing => Err("it is being removed".into()),
        }
    }

    /// Whether `batch stop` may act on a batch in this status, and why not.
    pub fn check_stop(self) -> Result<(), String> {
        match self {
            BatchStatus::Syncing | BatchStatus::Synced | BatchStatus::SyncedWithErrors => Ok(()),
            BatchStatus::Created => Err("it was never started".into()),
            BatchStatus::Stopping | BatchStatus::Stopped => Err("it is already stopped".into()),
            BatchStatus::Failed => Err("it has failed and is not running".into()),
            BatchStatus::Removing => Err("it is being removed".into()),
        }
    }

    /// Whether workers have anything to do for a batch in this status.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            BatchStatus::Syncing | BatchStatus::Synced | BatchStatus::SyncedWithErrors
        )
    }

    /// The status a running batch takes once every user has finished a pass.
    pub fn after_pass(users: &[UserStatus]) -> BatchStatus {
        if users.contains(&UserStatus::Failed) {
            BatchStatus::SyncedWithErrors
        } else {
            BatchStatus::Synced
        }
    }

    /// The status after a pass when users skipped items or the brake held removals: as
    /// [`BatchStatus::after_pass`], but SyncedWithErrors while anything waits for the
    /// admin's approval: skipped items (`batch approve-skipped-items`, Exchange's
    /// Set-MigrationBatch -ApproveSkippedItems) or held removals (`batch approve-removals`).
    pub fn after_pass_with_skipped(users: &[UserStatus], awaiting_approval: u64) -> BatchStatus {
        match BatchStatus::after_pass(users) {
            BatchStatus::Synced if awaiting_approval > 0 => BatchStatus::SyncedWithErrors,
            status => status,
        }
    }
}

impl UserStatus {
    /// A user that is not being worked on right now.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            UserStatus::Synced | UserStatus::Stopped | UserStatus::Failed
        )
    }

    /// The status a user takes while a pass runs: the first pass is Syncing, later
    /// passes are IncrementalSyncing (as Exchange shows them).
    pub fn running(initial_sync_done: bool) -> UserStatus {
        if initial_sync_done {
            UserStatus::IncrementalSyncing
        } else {
            UserStatus::Syncing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for s in BatchStatus::ALL {
            assert_eq!(
                s.as_str().to_lowercase().parse::<BatchStatus>().unwrap(),
                *s
            );
        }
        for s in UserStatus::ALL {
            assert_eq!(s.to_string().parse::<UserStatus>().unwrap(), *s);
        }
        let err = "Done".parse::<UserStatus>().unwrap_err();
        assert!(err.contains("Queued"), "{err}");
    }

    #[test]
    fn a_pass_with_a_failed_user_ends_synced_with_errors() {
        use UserStatus::*;
        assert_eq!(
            BatchStatus::after_pass(&[Synced, Synced]),
            BatchStatus::Synced
        );
        assert_eq!(
            BatchStatus::after_pass(&[Synced, Failed]),
            BatchStatus::SyncedWithErrors
        );
    }

    #[test]
    fn skipped_items_wait_for_approval() {
        use UserStatus::*;
        assert_eq!(
            BatchStatus::after_pass_with_skipped(&[Synced, Synced], 2),
            BatchStatus::SyncedWithErrors
        );
        assert_eq!(
            BatchStatus::after_pass_with_skipped(&[Synced, Synced], 0),
            BatchStatus::Synced
        );
        assert_eq!(
            BatchStatus::after_pass_with_skipped(&[Synced, Failed], 0),
            BatchStatus::SyncedWithErrors
        );
    }

    #[test]
    fn start_and_stop_are_refused_where_they_make_no_sense() {
        assert!(BatchStatus::Syncing.check_start().is_err());
        assert!(BatchStatus::Synced.check_start().is_ok());
        assert!(BatchStatus::Created.check_stop().is_err());
        assert!(BatchStatus::Syncing.check_stop().is_ok());
    }
}
