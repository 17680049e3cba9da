//! The biggest mailboxes first: a batch's wall time is its slowest mailbox's, so the
//! mailboxes that take longest start first. Before the initial sync, when more mailboxes
//! wait than run at once, each source mailbox is sized with one login and its folders'
//! STATUS (SIZE where the server has STATUS=SIZE, RFC 8438), brought by the listing where
//! the server has LIST-STATUS, else pipelined; the sizes are kept as the user's source
//! counts, which the first pass then replaces with its own.

use cutover_imap::{MailboxName, Session};
use cutover_model::MigrationUser;

use crate::connect;
use crate::folder_map::{ListedFolder, SpecialUse, is_excluded};
use crate::lanes::MAX_LANES;
use crate::namespace;
use crate::observe::{SideFolders, read_folders};
use crate::pass::{MailboxJob, Role, SyncError};

/// A source mailbox's size before its first pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceSize {
    pub messages: u64,
    /// `None` when the server cannot tell (no STATUS=SIZE).
    pub bytes: Option<u64>,
}

/// The users whose source mailbox should be sized before this pass: on the initial sync,
/// those no pass has counted yet, and only when more wait than `slots` run at once (else
/// every one starts now and the order does not matter).
pub fn to_size(users: &[MigrationUser], slots: usize, incremental: bool) -> Vec<usize> {
    if incremental || users.len() <= slots {
        return Vec::new();
    }
    users
        .iter()
        .enumerate()
        // Mail users, contacts and groups have no mailbox to size.
        .filter(|(_, u)| u.kind.has_mailbox() && !u.initial_sync_done && u.stats.source_items == 0)
        .map(|(i, _)| i)
        .collect()
}

/// How many mailboxes are sized at once for a batch that copies `limit` at once. A
/// sizing is one connection for a login and a listing with the folders' STATUS, over in
/// a few round trips, and no pass starts before the last one: on a distant source every
/// wave of sizing keeps the whole batch waiting (0.15-0.2 s a wave at 50 ms). So more
/// than `limit` at once, but no more connections than the batch's copies may hold on a
/// distant source (`limit` x [`MAX_LANES`]), and no more than [`SIZING_WAVE`] unless the
/// batch itself copies more at once.
pub fn at_once(limit: u32) -> usize {
    let limit = limit.max(1) as usize;
    limit.max((limit * MAX_LANES).min(SIZING_WAVE))
}

/// See [`at_once`].
pub const SIZING_WAVE: usize = 16;

/// Puts the users in the order they take their turn: the most bytes first (by messages
/// where no bytes are known), then the users CSV's order.
pub fn pass_order(users: &mut [MigrationUser]) {
    // A stable sort keeps the users CSV's order among equals.
    users.sort_by(|a, b| {
        (b.stats.source_bytes, b.stats.source_items)
            .cmp(&(a.stats.source_bytes, a.stats.source_items))
    });
}

/// Sizes one source mailbox: its personal folders but the excluded ones.
pub async fn size_source(job: &MailboxJob) -> Result<SourceSize, SyncError> {
    let mut src = connect::open(&job.source, Role::Source).await?;
    let size = size_folders(&mut src, job).await;
    // Its answer is not waited for: on a distant source that is a round trip per wave.
    connect::close(src);
    size
}

async fn size_folders(src: &mut Session, job: &MailboxJob) -> Result<SourceSize, SyncError> {
    let err = |source| SyncError::Imap {
        role: Role::Source,
        source,
    };
    // The folders and the namespace in one round trip, and their STATUS too where the
    // source has LIST-STATUS.
    let SideFolders {
        listed,
        namespace: side,
        statuses: listed_statuses,
        ..
    } = read_folders(src, Role::Source, &[]).await?;
    let folders: Vec<ListedFolder> = listed
        .iter()
        .map(|m| ListedFolder {
            name: m.name.as_bytes().to_vec(),
            selectable: m.is_selectable(),
            subscribed: false,
            special_use: SpecialUse::from_attributes(m.attributes.iter().map(String::as_str)),
        })
        .collect();
    let personal = namespace::relative_listing(&side, &folders);
    let names: Vec<MailboxName> = personal
        .folders
        .iter()
        .filter(|f| f.selectable)
        .filter(|f| {
            let display = MailboxName::from_wire(f.name.clone()).to_display();
            !is_excluded(&display, side.separator, &job.excluded_folders)
        })
        .map(|f| {
            let wire = personal
                .wire
                .get(&f.name)
                .cloned()
                .unwrap_or_else(|| side.absolute(&f.name));
            MailboxName::from_wire(wire)
        })
        .collect();
    let mut size = SourceSize {
        messages: 0,
        bytes: Some(0),
    };
    // A folder that vanished or refuses STATUS is left out: this is an estimate for the
    // order, the pass counts exactly.
    for status in src
        .statuses_after_listing(&names, &listed_statuses)
        .await
        .map_err(err)?
        .into_iter()
        .flatten()
    {
        size.messages += u64::from(status.messages);
        size.bytes = size.bytes.zip(status.size).map(|(a, b)| a + b);
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::{EmailAddress, Name, UserStats};
    use proptest::prelude::*;

    fn user(i: usize, bytes: u64, items: u64, done: bool) -> MigrationUser {
        MigrationUser {
            initial_sync_done: done,
            stats: UserStats {
                source_bytes: bytes,
                source_items: items,
                ..UserStats::default()
            },
            ..MigrationUser::new(
                format!("u{i}@b.test").parse::<EmailAddress>().unwrap(),
                Name::parse("batch", "B").unwrap(),
            )
        }
    }

    #[test]
    fn only_an_initial_sync_with_more_mailboxes_than_slots_is_sized() {
        let users = vec![
            user(0, 0, 0, false),
            user(1, 10, 2, false),
            user(2, 0, 0, true),
        ];
        assert_eq!(to_size(&users, 2, false), vec![0]);
        assert!(to_size(&users, 3, false).is_empty());
        assert!(to_size(&users, 2, true).is_empty());
    }

    #[test]
    fn a_wave_of_sizing_is_wider_than_the_batch_but_never_beyond_what_its_copies_hold() {
        assert_eq!(at_once(0), MAX_LANES);
        assert_eq!(at_once(1), MAX_LANES);
        assert_eq!(at_once(2), 2 * MAX_LANES);
        assert_eq!(at_once(4), SIZING_WAVE);
        assert_eq!(at_once(10), SIZING_WAVE);
        assert_eq!(at_once(100), 100);
    }

    proptest! {
        #[test]
        fn sizing_at_once_stays_between_the_limit_and_the_copies_connections(limit in 0u32..500) {
            let n = at_once(limit);
            let limit = limit.max(1) as usize;
            prop_assert!(n >= limit);
            prop_assert!(n <= (limit * MAX_LANES).max(limit));
            prop_assert!(n <= SIZING_WAVE.max(limit));
        }

        #[test]
        fn the_biggest_go_first_and_equals_keep_the_csv_order(
            sizes in proptest::collection::vec((0u64..5, 0u64..5), 0..30),
        ) {
            let mut users: Vec<MigrationUser> = sizes
                .iter()
                .enumerate()
                .map(|(i, (bytes, items))| user(i, *bytes, *items, false))
                .collect();
            pass_order(&mut users);
            prop_assert_eq!(users.len(), sizes.len());
            for w in users.windows(2) {
                let (a, b) = (&w[0], &w[1]);
                let key = |u: &MigrationUser| (u.stats.source_bytes, u.stats.source_items);
                prop_assert!(key(a) >= key(b));
                if key(a) == key(b) {
                    let n = |u: &MigrationUser| u.email.as_str().trim_start_matches('u').split('@').next().unwrap().parse::<usize>().unwrap();
                    prop_assert!(n(a) < n(b));
                }
            }
        }
    }
}
