//! Folders that were renamed or deleted on the source since the last pass.
//!
//! IMAP gives folders no identity but their name, so a rename shows as one folder gone
//! and one new. A new folder with the UIDVALIDITY of a gone one is that folder renamed
//! (servers keep UIDVALIDITY across RENAME): the target folder is renamed too and its
//! records follow. A folder gone for good is deleted on the target only when the target
//! folder holds nothing but what this migration put there; otherwise it is kept.
//!
//! A folder missing from one LIST reply is not gone on that alone: the source must
//! answer a STATUS of it with "does not exist" (a lost LIST line is not a deletion).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cutover_imap::{ImapError, MailboxName, Session};
use cutover_store::{FolderState, Store};
use tracing::{info, warn};

use crate::folder_map::FolderMapping;
use crate::pass::{Role, SyncError};
use crate::proof::FolderFate;

/// What happened to folders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderChanges {
    pub renamed: Vec<(String, String)>,
    pub deleted: Vec<String>,
    /// Gone on the source, kept on the target because it holds other mail.
    pub kept: Vec<String>,
}

/// A source folder that a direct check proved gone (and no new folder took its
/// UIDVALIDITY): its target folder is deleted unless the brake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneFolder {
    pub src_name: Vec<u8>,
    pub state: FolderState,
    /// Messages this migration put in its target folder.
    pub migrated: u64,
}

async fn exists(session: &mut Session, name: &MailboxName) -> Result<bool, ImapError> {
    match session.status(name).await {
        Ok(_) => Ok(true),
        Err(ImapError::No { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Asks the source directly about a folder its LIST did not show.
async fn fate(src: &mut Session, name: &MailboxName) -> Result<FolderFate, ImapError> {
    match src.status(name).await {
        Ok(_) => Ok(FolderFate::of_status(Ok(()))),
        Err(ImapError::No { code, text, .. }) => {
            Ok(FolderFate::of_status(Err(Some((code.as_deref(), &text)))))
        }
        Err(e) => Err(e),
    }
}

/// Follows renames; returns the folders proven gone, for [`delete_gone`]. `states` (the
/// last pass's folders) is updated. A folder missing from LIST that the source still
/// answers for (a lost LIST line) is left as it is.
pub async fn follow_renames(
    src: &mut Session,
    dst: &mut Session,
    store: &dyn Store,
    email: &str,
    mappings: &[FolderMapping],
    states: &mut HashMap<Vec<u8>, FolderState>,
) -> Result<(FolderChanges, Vec<GoneFolder>), SyncError> {
    let mut changes = FolderChanges::default();
    let current: BTreeSet<&[u8]> = mappings.iter().map(|m| m.src.as_slice()).collect();
    let missing: Vec<(Vec<u8>, FolderState)> = states
        .iter()
        .filter(|(name, _)| !current.contains(name.as_slice()))
        .map(|(n, s)| (n.clone(), s.clone()))
        .collect();
    let mut gone: BTreeMap<Vec<u8>, FolderState> = BTreeMap::new();
    for (src_name, state) in missing {
        let name = MailboxName::from_wire(src_name.clone());
        let fate = fate(src, &name).await.map_err(|source| SyncError::Folder {
            role: Role::Source,
            folder: name.to_display(),
            source,
        })?;
        match fate {
            FolderFate::Gone => {
                gone.insert(src_name, state);
            }
            FolderFate::StillThere | FolderFate::Unknown => {
                warn!(user = email, folder = %name, ?fate,
                    "a folder missing from the source's LIST is not known to be gone; nothing is done to it");
            }
        }
    }
    if gone.is_empty() {
        return Ok((changes, Vec::new()));
    }
    // Renames: a new selectable folder whose UIDVALIDITY is a gone folder's. Parents
    // first, so that a renamed parent's children are already in place on the target.
    let mut fresh: Vec<&FolderMapping> = mappings
        .iter()
        .filter(|m| m.selectable && !states.contains_key(&m.src))
        .collect();
    fresh.sort_by_key(|m| m.src.len());
    for m in fresh {
        let name = MailboxName::from_wire(m.src.clone());
        let status = src
            .status(&name)
            .await
            .map_err(|source| SyncError::Folder {
                role: Role::Source,
                folder: name.to_display(),
                source,
            })?;
        let Some(validity) = status.uid_validity else {
            continue;
        };
        let matches: Vec<Vec<u8>> = gone
            .iter()
            .filter(|(_, s)| s.src_uidvalidity == validity)
            .map(|(n, _)| n.clone())
            .collect();
        let [old] = matches.as_slice() else { continue };
        let state = gone.remove(old).expect("listed above");
        let (from, to) = (
            MailboxName::from_wire(state.dst_name.clone()),
            MailboxName::from_wire(m.dst.clone()),
        );
        // The target may already have the new name (its parent was renamed with it).
        let target_err = |source| SyncError::Folder {
            role: Role::Target,
            folder: from.to_display(),
            source,
        };
        if from != to
            && exists(dst, &from).await.map_err(target_err)?
            && !exists(dst, &to).await.map_err(target_err)?
        {
            dst.rename(&from, &to).await.map_err(target_err)?;
        }
        store.rename_folder(email, old, &m.src, &m.dst).await?;
        let mut moved = state;
        moved.src_name = m.src.clone();
        moved.dst_name = m.dst.clone();
        states.remove(old);
        states.insert(m.src.clone(), moved);
        let pair = (
            MailboxName::from_wire(old.clone()).to_display(),
            name.to_display(),
        );
        info!(
            user = email,
            from = pair.0,
            to = pair.1,
            "folder renamed on the source; followed on the target"
        );
        changes.renamed.push(pair);
    }

    let mut out = Vec::with_capacity(gone.len());
    for (src_name, state) in gone {
        let migrated = store
            .copied_messages(email, &src_name, state.src_uidvalidity)
            .await?
            .len() as u64;
        out.push(GoneFolder {
            src_name,
            state,
            migrated,
        });
    }
    Ok((changes, out))
}

/// Deletes the target folders of source folders proven gone, deepest first so children
/// go before their parents; a target folder that holds mail that did not come from the
/// source is kept. Their records are forgotten and `states` updated.
pub async fn delete_gone(
    dst: &mut Session,
    store: &dyn Store,
    email: &str,
    gone: Vec<GoneFolder>,
    states: &mut HashMap<Vec<u8>, FolderState>,
    changes: &mut FolderChanges,
) -> Result<(), SyncError> {
    let mut doomed: Vec<(Vec<u8>, FolderState)> =
        gone.into_iter().map(|g| (g.src_name, g.state)).collect();
    doomed.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    for (src_name, state) in doomed {
        let shown = MailboxName::from_wire(src_name.clone()).to_display();
        let target = MailboxName::from_wire(state.dst_name.clone());
        let err = |source| SyncError::Folder {
            role: Role::Target,
            folder: target.to_display(),
            source,
        };
        match dst.examine(&target).await {
            Ok(selected) => {
                let ours: BTreeSet<u32> = store
                    .copied_messages(email, &src_name, state.src_uidvalidity)
                    .await?
                    .into_iter()
                    .filter(|c| c.dst_uidvalidity == Some(selected.uid_validity))
                    .filter_map(|c| c.dst_uid)
                    .collect();
                let there = dst.search_all_uids().await.map_err(err)?;
                // Deleting the selected (EXAMINEd) mailbox makes servers hang up.
                dst.unselect().await.map_err(err)?;
                // Counted, not listed: `there` is the server's ranges.
                let foreign =
                    there.count() - ours.iter().filter(|&&u| there.contains(u)).count() as u64;
                if foreign == 0 {
                    match dst.delete(&target).await {
                        Ok(()) => changes.deleted.push(shown.clone()),
                        // e.g. it still has children the source kept.
                        Err(e @ ImapError::No { .. }) => {
                            warn!(user = email, folder = shown, error = %e, "cannot delete the folder on the target");
                            changes.kept.push(shown.clone());
                        }
                        Err(e) => return Err(err(e)),
                    }
                } else {
                    warn!(
                        user = email,
                        folder = shown,
                        foreign,
                        "folder deleted on the source is kept on the target: it holds messages that did not come from the source"
                    );
                    changes.kept.push(shown.clone());
                }
            }
            Err(ImapError::No { .. }) => {}
            Err(e) => return Err(err(e)),
        }
        store.forget_folder(email, &src_name).await?;
        states.remove(&src_name);
    }
    Ok(())
}
