//! Looking at one source folder before a pass acts on it: as cheaply as the server
//! allows (STATUS when nothing changed, CONDSTORE/QRESYNC deltas when it has them, a
//! full listing otherwise), with what an interrupted pass left in flight and what a
//! changed UIDVALIDITY still has on the target. Reads only: it returns the folder's
//! facts, which [`crate::plan`] turns into steps.

use std::collections::BTreeSet;

use cutover_imap::{ImapError, MailboxName, MessageMeta, SelectedMailbox};
use cutover_store::FolderState;
use tracing::{debug, info, warn};

use crate::facts::FolderFacts;
use crate::incremental::{KnownMessage, ListedMessage, SourceView};
use crate::pass::{FolderPass, Role, SourceModes, SyncError};
use crate::proof;
use crate::recovery;

fn listed(metas: &[MessageMeta]) -> Vec<ListedMessage> {
    metas
        .iter()
        .map(|m| ListedMessage {
            uid: m.uid,
            size: m.size,
            internal_date: m.internal_date.timestamp(),
            flags: m.flags.clone(),
        })
        .collect()
}

/// A folder opened and listed whole beforehand
/// ([`cutover_imap::Session::examine_and_list`]).
pub(crate) type Listed = (SelectedMailbox, Vec<MessageMeta>);

/// What was asked of the source for a folder beforehand, pipelined with the other
/// folders: its listing (a folder no pass has seen) or its STATUS (one an earlier pass
/// saw).
#[derive(Debug, Default)]
pub(crate) struct Ahead {
    pub(crate) listed: Option<Listed>,
    pub(crate) status: Option<cutover_imap::MailboxStatus>,
}

/// Scans one source folder (`p.dst_folder` is where its messages go on the target).
/// `state` is what the last pass saw of it; `skipped` the UIDs of its skipped items.
pub(crate) async fn scan_folder(
    p: &mut FolderPass<'_>,
    state: Option<&FolderState>,
    modes: SourceModes,
    skipped: &[u32],
    ahead: Ahead,
) -> Result<FolderFacts, SyncError> {
    let Ahead {
        listed: prelisted,
        status: status_ahead,
    } = ahead;
    let (store, email, src_folder) = (p.store, p.email, p.src_folder);
    let (records, dst_folder) = (p.records, p.dst_folder);
    let facts = |uid_validity, uid_next, highest_modseq, messages| FolderFacts {
        src: src_folder.to_vec(),
        dst: dst_folder.to_vec(),
        uid_validity,
        uid_next,
        highest_modseq,
        messages,
        ..Default::default()
    };
    // Skipped messages sit below UIDNEXT: only a full listing offers them again.
    let retry_skipped = !skipped.is_empty();
    let name = MailboxName::from_wire(src_folder.to_vec());
    let err = |source: ImapError| SyncError::Folder {
        role: Role::Source,
        folder: name.to_display(),
        source,
    };
    let intents = store.intents(email, records).await?;

    // Nothing changed: same UIDVALIDITY, UIDNEXT, count and HIGHESTMODSEQ. Only a server
    // with CONDSTORE can say that flags did not change, so only then is this trusted. A
    // source with OBJECTID whose MAILBOXID was never seen (a state from before it was
    // kept) is examined once, so a later rename of the folder can be followed.
    if let Some(st) = state
        && intents.is_empty()
        && !retry_skipped
        && modes.condstore
        && st.highest_modseq.is_some()
        && (st.mailbox_id.is_some() || !modes.object_ids)
    {
        let status = match status_ahead {
            Some(status) => status,
            None => p.src.status(&name).await.map_err(err)?,
        };
        if status.uid_validity == Some(st.src_uidvalidity)
            && status.uid_next == st.uidnext
            && status.messages == st.messages
            && status.highest_modseq == st.highest_modseq
        {
            return Ok(FolderFacts {
                unchanged: true,
                complete: true,
                mailbox_id: st.mailbox_id.clone(),
                ..facts(
                    st.src_uidvalidity,
                    st.uidnext,
                    st.highest_modseq,
                    st.messages,
                )
            });
        }
    }

    // A listing made beforehand with the other new folders serves a folder without a
    // past: no state, nothing in flight, nothing skipped (it is listed whole anyway).
    let (selected, mut prelisted) =
        match prelisted.filter(|_| state.is_none() && intents.is_empty() && !retry_skipped) {
            Some((selected, all)) => (selected, Some(all)),
            None => (p.src.examine(&name).await.map_err(err)?, None),
        };
    let validity = selected.uid_validity;
    let mut recovered = false;
    let mut found = Vec::new();
    let mut rematched = None;
    // What earlier passes recorded at this UIDVALIDITY: after a rematch an interrupted
    // pass applied, the messages it found and copied since.
    let recorded = store.copied_messages(email, records, validity).await?;
    if let Some(st) = state
        && st.src_uidvalidity != validity
    {
        info!(user = email, folder = %name, old = st.src_uidvalidity, new = validity,
            "UIDVALIDITY changed on the source; matching its messages against the target");
        let all = if selected.exists != Some(0) {
            p.src.fetch_meta("1:*").await.map_err(err)?
        } else {
            Vec::new()
        };
        let r = recovery::rematch(p, st.src_uidvalidity, &all, &recorded).await?;
        found.extend(r.found.iter().cloned());
        rematched = Some(r);
        recovered = true;
    }
    let mut intents_found = None;
    if !intents.is_empty() {
        let taken: Vec<u32> = found.iter().filter_map(|c| c.dst_uid).collect();
        let i = recovery::find_intents(p, validity, intents, &taken).await?;
        found.extend(i.found.iter().cloned());
        intents_found = Some(i);
        recovered = true;
    }
    // The records, and what the repairs above found.
    let known: Vec<KnownMessage> = recorded
        .into_iter()
        .chain(found)
        .map(|c| KnownMessage {
            src_uid: c.src_uid,
            dst_uid: c.dst_uid,
            flags: c.flags,
        })
        .collect();
    let known_uids: BTreeSet<u32> = known.iter().map(|k| k.src_uid).collect();

    // A delta needs the last pass's UIDNEXT and HIGHESTMODSEQ at this UIDVALIDITY, and
    // nothing below UIDNEXT that still waits to be copied (recovered or skipped items).
    let delta_from = state
        .filter(|st| st.src_uidvalidity == validity && !recovered && !retry_skipped)
        .and_then(|st| Some((st.uidnext?, st.highest_modseq?, st.messages)))
        .filter(|_| modes.condstore && selected.highest_modseq.is_some());
    let delta = match delta_from {
        Some((uid_next, modseq, messages_then)) if selected.exists != Some(0) => {
            let d = read_delta(
                p,
                uid_next,
                modseq,
                messages_then,
                modes,
                &known_uids,
                &selected,
            )
            .await
            .map_err(err)?;
            if d.is_none() {
                warn!(user = email, folder = %name,
                    "the changes the source reported since the last pass do not add up; listing the folder whole");
            }
            d
        }
        _ => None,
    };
    let (view, metas, complete) = match delta {
        Some((view, new)) => (view, new, true),
        None => {
            let all = match prelisted.take() {
                Some(all) => all,
                None if selected.exists != Some(0) => p.src.fetch_meta("1:*").await.map_err(err)?,
                None => Vec::new(),
            };
            let uids: BTreeSet<u32> = all.iter().map(|m| m.uid).collect();
            // Only a listing known to be whole says what is no longer there.
            let complete = proof::listing_is_complete(selected.exists, &uids);
            if !complete {
                warn!(user = email, folder = %name, listed = uids.len(), exists = ?selected.exists,
                    "the source listed fewer messages than the folder holds; nothing is removed from the target and the folder is listed again next pass");
            }
            (
                SourceView {
                    listed: listed(&all),
                    present: complete.then_some(uids),
                    ..Default::default()
                },
                all,
                complete,
            )
        }
    };
    // Skipped messages gone from the source are no longer skipped.
    let skipped_gone: Vec<u32> = skipped
        .iter()
        .copied()
        .filter(|u| {
            view.vanished.contains(u) || view.present.as_ref().is_some_and(|p| !p.contains(u))
        })
        .collect();
    Ok(FolderFacts {
        complete,
        mailbox_id: selected.mailbox_id.clone(),
        view,
        metas: metas.into_iter().map(|m| (m.uid, m)).collect(),
        known,
        intents: intents_found,
        rematched,
        skipped_gone,
        ..facts(
            validity,
            selected.uid_next,
            selected.highest_modseq,
            selected.exists.unwrap_or(0),
        )
    })
}

/// The changes since the last pass (flags, VANISHED or UID SEARCH ALL, and the new
/// messages), or `None` when they do not add up ([`proof::delta_adds_up`]): a reply line
/// that did not arrive must not read as "expunged" or let a new message be passed over.
async fn read_delta(
    p: &mut FolderPass<'_>,
    uid_next: u32,
    modseq: u64,
    messages_then: u32,
    modes: SourceModes,
    known: &BTreeSet<u32>,
    selected: &SelectedMailbox,
) -> Result<Option<(SourceView, Vec<MessageMeta>)>, ImapError> {
    let changes = p
        .src
        .fetch_changed(
            &format!("1:{}", uid_next.saturating_sub(1).max(1)),
            modseq,
            modes.qresync,
        )
        .await?;
    let new: Vec<MessageMeta> = p
        .src
        .fetch_meta(&format!("{uid_next}:*"))
        .await?
        .into_iter()
        // "N:*" answers the last message even when its UID is below N.
        .filter(|m| m.uid >= uid_next)
        .collect();
    let new_uids: BTreeSet<u32> = new.iter().map(|m| m.uid).collect();
    // Only the known UIDs matter among those VANISHED names: the server's sets stay
    // ranges, and are looked up, never spelled out.
    let vanished: BTreeSet<u32> = known
        .iter()
        .copied()
        .filter(|u| changes.vanished.contains(*u))
        .collect();
    let (present, present_new): (Option<BTreeSet<u32>>, Option<BTreeSet<u32>>) = if modes.qresync {
        let found = p.src.search_uids_from(uid_next).await?;
        // At most the new messages and the last one below ("N:*"): a larger set cannot
        // add up, and is not spelled out.
        if found.count() > new_uids.len() as u64 + 1 {
            return Ok(None);
        }
        (
            None,
            Some(found.iter().filter(|u| *u >= uid_next).collect()),
        )
    } else {
        // Present now: the known messages and the new ones, at most. A larger set cannot
        // add up, and is not spelled out.
        let all = match p.src.search_all_uids().await {
            Ok(all) => all,
            // No answer (an ESEARCH that never came): unknown, so the folder is listed.
            Err(ImapError::Protocol(why)) => {
                debug!(why, "UID SEARCH gave no answer");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if all.count() > (known.len() + new_uids.len()) as u64 {
            return Ok(None);
        }
        (Some(all.iter().collect()), None)
    };
    let adds_up = proof::delta_adds_up(&proof::Delta {
        messages_then,
        uid_next_then: uid_next,
        known,
        vanished: modes.qresync.then_some(&vanished),
        present: present.as_ref(),
        present_new: present_new.as_ref(),
        new: &new_uids,
        exists: selected.exists,
    });
    if !adds_up {
        return Ok(None);
    }
    debug!(
        changed = changes.flags.len(),
        vanished = vanished.len(),
        new = new.len(),
        "delta since the last pass"
    );
    Ok(Some((
        SourceView {
            listed: listed(&new),
            changed_flags: changes.flags,
            present,
            vanished: vanished.into_iter().collect(),
        },
        new,
    )))
}
