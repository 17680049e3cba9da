//! Applying one folder's flag changes and removals to the target, then recording them
//! (the plan's `SetFlags` and `Expunge` steps, when the copy pipeline reaches the folder).

use std::collections::BTreeMap;

use cutover_imap::{FlagChange, ImapError, MailboxName, Session};
use cutover_store::Store;
use tracing::warn;

use crate::pass::{FolderWork, Role, SyncError};

/// What was applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub flags_changed: u64,
    pub removed: u64,
}

/// Applies the folder's flag updates and removals to its target folder and records them.
pub(crate) async fn apply_changes(
    dst: &mut Session,
    store: &dyn Store,
    email: &str,
    work: &FolderWork,
) -> Result<Applied, SyncError> {
    let (src_folder, src_uidvalidity, dst_folder) = (&work.src, work.uid_validity, &work.dst);
    if work.flag_updates.is_empty() && work.removals.is_empty() {
        return Ok(Applied::default());
    }
    let name = MailboxName::from_wire(dst_folder.to_vec());
    let err = |source: ImapError| SyncError::Folder {
        role: Role::Target,
        folder: name.to_display(),
        source,
    };
    let selected = dst.select(&name).await.map_err(err)?;
    // Target UIDs of this folder's messages; those copied into an earlier incarnation of
    // the target folder (another UIDVALIDITY) are not there.
    let here: std::collections::HashMap<u32, u32> = store
        .copied_messages(email, src_folder, src_uidvalidity)
        .await?
        .into_iter()
        .filter(|c| c.dst_uidvalidity == Some(selected.uid_validity))
        .filter_map(|c| Some((c.src_uid, c.dst_uid?)))
        .collect();

    // One STORE per distinct change, not one per message.
    let mut groups: BTreeMap<(Vec<String>, Vec<String>), Vec<u32>> = BTreeMap::new();
    for u in &work.flag_updates {
        if let Some(uid) = here.get(&u.src_uid).copied() {
            groups
                .entry((u.add.clone(), u.remove.clone()))
                .or_default()
                .push(uid);
        }
    }
    for ((add, remove), uids) in &groups {
        dst.store_flags(uids, FlagChange::Add, add)
            .await
            .map_err(err)?;
        dst.store_flags(uids, FlagChange::Remove, remove)
            .await
            .map_err(err)?;
    }
    let flags: Vec<(u32, Vec<String>)> = work
        .flag_updates
        .iter()
        .map(|u| (u.src_uid, u.flags.clone()))
        .collect();
    store
        .update_flags(email, src_folder, src_uidvalidity, &flags)
        .await?;

    let doomed: Vec<u32> = work
        .removals
        .iter()
        .filter_map(|(src_uid, _)| here.get(src_uid).copied())
        .collect();
    if !doomed.is_empty() && !dst.expunge_uids(&doomed).await.map_err(err)? {
        warn!(user = email, folder = %name, count = doomed.len(),
            "the target has no UIDPLUS: messages expunged on the source are only marked \\Deleted");
    }
    let gone: Vec<u32> = work.removals.iter().map(|(src, _)| *src).collect();
    store
        .forget_messages(email, src_folder, src_uidvalidity, &gone)
        .await?;
    Ok(Applied {
        flags_changed: flags.len() as u64,
        removed: gone.len() as u64,
    })
}
