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
//!
//! [`observe`] only reads (both servers, the store); [`rename`] and [`delete`] are the
//! writes [`crate::apply`] makes when the plan says so.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cutover_imap::{ImapError, MailboxName, Session};
use cutover_store::{FolderState, Store};
use tracing::{info, warn};

use crate::facts::{GoneFolder, GoneTarget, RenamedFolder};
use crate::folder_map::FolderMapping;
use crate::pass::{Role, SyncError};
use crate::proof::FolderFate;

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

/// What [`observe`] found.
#[derive(Debug, Default)]
pub(crate) struct FolderChanges {
    pub(crate) renames: Vec<RenamedFolder>,
    pub(crate) gone: Vec<GoneFolder>,
    /// Each renamed folder's new source name, to the name the store still knows it by.
    pub(crate) records: HashMap<Vec<u8>, Vec<u8>>,
    /// Each renamed folder's new source name, to its target folder's name now.
    pub(crate) target_now: HashMap<Vec<u8>, Vec<u8>>,
}

/// Which folder gone from the source a new folder is, when exactly one matches: the same
/// MAILBOXID where both have one, else the same UIDVALIDITY (servers keep it across
/// RENAME, except those with OBJECTID that renumber, such as Cyrus).
pub fn renamed_from<'a>(
    gone: &'a BTreeMap<Vec<u8>, FolderState>,
    validity: u32,
    id: Option<&str>,
) -> Option<&'a Vec<u8>> {
    let mut matches = gone
        .iter()
        .filter(|(_, s)| match (s.mailbox_id.as_deref(), id) {
            (Some(was), Some(is)) => was == is,
            _ => s.src_uidvalidity == validity,
        });
    match (matches.next(), matches.next()) {
        (Some((name, _)), None) => Some(name),
        _ => None,
    }
}

/// The folders renamed and proven gone on the source since the last pass. Reads only.
/// `states` (the last pass's folders) is updated as if the renames were followed. A
/// folder missing from LIST that the source still answers for (a lost LIST line) is
/// left as it is.
pub(crate) async fn observe(
    src: &mut Session,
    dst: &mut Session,
    store: &dyn Store,
    email: &str,
    mappings: &[FolderMapping],
    states: &mut HashMap<Vec<u8>, FolderState>,
    target_separator: Option<char>,
) -> Result<FolderChanges, SyncError> {
    let mut records = HashMap::new();
    let mut target_now = HashMap::new();
    let sep = target_separator.and_then(|c| u8::try_from(c).ok());
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
    let mut renames = Vec::new();
    if gone.is_empty() {
        return Ok(FolderChanges::default());
    }
    // Renames: a new selectable folder whose UIDVALIDITY is a gone folder's. Parents
    // first, so that a renamed parent's children are already in place on the target.
    let mut fresh: Vec<&FolderMapping> = mappings
        .iter()
        .filter(|m| m.selectable && !states.contains_key(&m.src))
        .collect();
    fresh.sort_by_key(|m| m.src.len());
    // Target folders the renames planned so far move: (from, to).
    let mut moved_on_target: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    // A server with OBJECTID names each folder's identity (EXAMINE's MAILBOXID), which
    // survives a rename even where the UIDVALIDITY does not (Cyrus).
    let object_ids = src.capabilities().has("OBJECTID");
    for m in fresh {
        let name = MailboxName::from_wire(m.src.clone());
        let source_err = |source| SyncError::Folder {
            role: Role::Source,
            folder: name.to_display(),
            source,
        };
        let (validity, id) = if object_ids {
            let selected = src.examine(&name).await.map_err(source_err)?;
            (Some(selected.uid_validity), selected.mailbox_id)
        } else {
            (
                src.status(&name).await.map_err(source_err)?.uid_validity,
                None,
            )
        };
        let Some(validity) = validity else {
            continue;
        };
        let Some(old) = renamed_from(&gone, validity, id.as_deref()).cloned() else {
            continue;
        };
        let old = &old;
        let state = gone.remove(old).expect("listed above");
        let (from, to) = (
            MailboxName::from_wire(state.dst_name.clone()),
            MailboxName::from_wire(m.dst.clone()),
        );
        let target_err = |source| SyncError::Folder {
            role: Role::Target,
            folder: from.to_display(),
            source,
        };
        // Where the target folder will be when this rename is applied: a parent's
        // rename, planned before it, moves it along (maybe already to the new name).
        let at_apply = name_after(&state.dst_name, &moved_on_target, sep);
        let by_parent = at_apply != state.dst_name && at_apply == m.dst;
        let rename_on_target = at_apply != m.dst
            && exists(dst, &from).await.map_err(target_err)?
            && !exists(dst, &to).await.map_err(target_err)?;
        if rename_on_target {
            moved_on_target.push((at_apply.clone(), m.dst.clone()));
        }
        // Where the target folder is while the plan is made.
        let dst_now = if rename_on_target || by_parent {
            state.dst_name.clone()
        } else {
            m.dst.clone()
        };
        target_now.insert(m.src.clone(), dst_now);
        renames.push(RenamedFolder {
            src_from: old.clone(),
            src_to: m.src.clone(),
            dst_from: at_apply,
            dst_to: m.dst.clone(),
            rename_on_target,
            // Set by the caller, which has the target's subscriptions.
            unsubscribe: None,
        });
        let mut moved = state;
        moved.src_name = m.src.clone();
        moved.dst_name = m.dst.clone();
        states.remove(old);
        states.insert(m.src.clone(), moved);
        records.insert(m.src.clone(), old.clone());
    }

    let mut out = Vec::with_capacity(gone.len());
    for (src_name, state) in gone {
        let migrated = store
            .copied_messages(email, &src_name, state.src_uidvalidity)
            .await?
            .len() as u64;
        let target = target_holdings(dst, store, email, &src_name, &state).await?;
        out.push(GoneFolder {
            src_name,
            state,
            migrated,
            target,
        });
    }
    Ok(FolderChanges {
        renames,
        gone: out,
        records,
        target_now,
    })
}

/// Whether `name` is below `parent` in a hierarchy with separator `sep`.
fn under(name: &[u8], parent: &[u8], sep: Option<u8>) -> bool {
    sep.is_some_and(|sep| {
        name.len() > parent.len() && name.starts_with(parent) && name[parent.len()] == sep
    })
}

/// `name` after the target renames `moves` (from, to) in order: a folder below a
/// renamed one moves with it.
fn name_after(name: &[u8], moves: &[(Vec<u8>, Vec<u8>)], sep: Option<u8>) -> Vec<u8> {
    let mut name = name.to_vec();
    for (from, to) in moves {
        if name == *from {
            name = to.clone();
        } else if under(&name, from, sep) {
            name = replaced(&name, from, to);
        }
    }
    name
}

fn replaced(name: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = to.to_vec();
    out.extend_from_slice(&name[from.len()..]);
    out
}

/// What the target folder of a folder gone from the source holds. Reads only.
async fn target_holdings(
    dst: &mut Session,
    store: &dyn Store,
    email: &str,
    src_name: &[u8],
    state: &FolderState,
) -> Result<GoneTarget, SyncError> {
    let target = MailboxName::from_wire(state.dst_name.clone());
    let err = |source| SyncError::Folder {
        role: Role::Target,
        folder: target.to_display(),
        source,
    };
    let selected = match dst.examine(&target).await {
        Ok(selected) => selected,
        Err(ImapError::No { .. }) => return Ok(GoneTarget::Missing),
        Err(e) => return Err(err(e)),
    };
    let ours: BTreeSet<u32> = store
        .copied_messages(email, src_name, state.src_uidvalidity)
        .await?
        .into_iter()
        .filter(|c| c.dst_uidvalidity == Some(selected.uid_validity))
        .filter_map(|c| c.dst_uid)
        .collect();
    let there = dst.search_all_uids().await.map_err(err)?;
    // Deleting the selected (EXAMINEd) mailbox makes servers hang up.
    dst.unselect().await.map_err(err)?;
    // Counted, not listed: `there` is the server's ranges.
    let foreign = there.count() - ours.iter().filter(|&&u| there.contains(u)).count() as u64;
    Ok(GoneTarget::Holds { foreign })
}

/// Follows a rename the plan found: the target folder (when the plan says so), then the
/// records.
pub(crate) async fn rename(
    dst: &mut Session,
    store: &dyn Store,
    email: &str,
    r: &RenamedFolder,
) -> Result<(), SyncError> {
    if r.rename_on_target {
        let (from, to) = (
            MailboxName::from_wire(r.dst_from.clone()),
            MailboxName::from_wire(r.dst_to.clone()),
        );
        let err = |source| SyncError::Folder {
            role: Role::Target,
            folder: from.to_display(),
            source,
        };
        dst.rename(&from, &to).await.map_err(err)?;
        if let Some(old) = &r.unsubscribe {
            match dst.unsubscribe(&MailboxName::from_wire(old.clone())).await {
                // Some servers moved the subscription with the folder.
                Ok(()) | Err(ImapError::No { .. }) => {}
                Err(e) => return Err(err(e)),
            }
        }
    }
    store
        .rename_folder(email, &r.src_from, &r.src_to, &r.dst_to)
        .await?;
    info!(
        user = email,
        from = %MailboxName::from_wire(r.src_from.clone()),
        to = %MailboxName::from_wire(r.src_to.clone()),
        "folder renamed on the source; followed on the target"
    );
    Ok(())
}

/// Deletes the target folder of a source folder proven gone, after checking again that
/// it holds nothing but what this migration put there (mail may have arrived since the
/// plan), and forgets its records. False when it was kept.
pub(crate) async fn delete(
    dst: &mut Session,
    store: &dyn Store,
    email: &str,
    src_name: &[u8],
    state: &FolderState,
) -> Result<bool, SyncError> {
    let shown = MailboxName::from_wire(src_name.to_vec()).to_display();
    let target = MailboxName::from_wire(state.dst_name.clone());
    let deleted = match target_holdings(dst, store, email, src_name, state).await? {
        GoneTarget::Missing => false,
        GoneTarget::Holds { foreign: 0 } => match dst.delete(&target).await {
            Ok(()) => true,
            // e.g. it still has children the source kept.
            Err(e @ ImapError::No { .. }) => {
                warn!(user = email, folder = shown, error = %e, "cannot delete the folder on the target");
                false
            }
            Err(source) => {
                return Err(SyncError::Folder {
                    role: Role::Target,
                    folder: target.to_display(),
                    source,
                });
            }
        },
        GoneTarget::Holds { foreign } => {
            warn!(
                user = email,
                folder = shown,
                foreign,
                "folder deleted on the source is kept on the target: it holds messages that did not come from the source"
            );
            false
        }
    };
    store.forget_folder(email, src_name).await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str, validity: u32, id: Option<&str>) -> (Vec<u8>, FolderState) {
        (
            name.as_bytes().to_vec(),
            FolderState {
                src_name: name.as_bytes().to_vec(),
                src_uidvalidity: validity,
                dst_name: name.as_bytes().to_vec(),
                uidnext: None,
                highest_modseq: None,
                messages: 0,
                mailbox_id: id.map(str::to_string),
            },
        )
    }

    #[test]
    fn a_rename_is_the_one_gone_folder_with_the_same_uidvalidity() {
        let gone: BTreeMap<_, _> = [state("A", 1, None), state("B", 2, None)].into();
        assert_eq!(renamed_from(&gone, 2, None), Some(&b"B".to_vec()));
        assert_eq!(renamed_from(&gone, 3, None), None);
        let twins: BTreeMap<_, _> = [state("A", 1, None), state("B", 1, None)].into();
        assert_eq!(
            renamed_from(&twins, 1, None),
            None,
            "two candidates: neither"
        );
    }

    #[test]
    fn a_mailbox_id_wins_over_the_uidvalidity() {
        let gone: BTreeMap<_, _> = [state("A", 1, Some("x1")), state("B", 2, Some("x2"))].into();
        // Cyrus renumbers on RENAME: the id still says which folder it was.
        assert_eq!(renamed_from(&gone, 99, Some("x1")), Some(&b"A".to_vec()));
        // The same UIDVALIDITY but another id: another folder.
        assert_eq!(renamed_from(&gone, 2, Some("x9")), None);
        // No id on the new folder's side: UIDVALIDITY, as before.
        assert_eq!(renamed_from(&gone, 2, None), Some(&b"B".to_vec()));
    }

    #[test]
    fn a_folder_moves_with_the_renames_of_its_parents() {
        let moves = vec![
            (b"A".to_vec(), b"B".to_vec()),
            (b"B/C".to_vec(), b"X/C".to_vec()),
        ];
        let sep = Some(b'/');
        assert_eq!(name_after(b"A/C/D", &moves[..1], sep), b"B/C/D");
        assert_eq!(name_after(b"A/C/D", &moves, sep), b"X/C/D");
        assert_eq!(name_after(b"A", &moves, sep), b"B");
        assert_eq!(
            name_after(b"AB/C", &moves, sep),
            b"AB/C",
            "a sibling is not a child"
        );
        assert_eq!(
            name_after(b"A/C", &moves, None),
            b"A/C",
            "flat: no children"
        );
    }
}
