//! Recovery after a crash: intents left in the store name messages that may have
//! reached the target without their copy being recorded (the process died between the
//! APPEND and the record). Before a folder is copied again, each such message is looked
//! for on the target among the messages that arrived after its intent, and counted as
//! copied only when the bytes are the same; the others are copied again.
//!
//! Both look only (the source, the target, the store): what they find goes into the
//! folder's facts, and the plan's steps record it.

use cutover_imap::{ImapError, MailboxName, Session, uid_set_string};
use cutover_store::{CopiedMessage, Intent};
use tracing::{info, warn};

use crate::facts::{IntentsFound, Rematched};
use crate::pass::{FolderPass, Role, SyncError};
use crate::planner::{self, Candidate};

fn folder_err(role: Role, name: &MailboxName) -> impl Fn(ImapError) -> SyncError + '_ {
    move |source| SyncError::Folder {
        role,
        folder: name.to_display(),
        source,
    }
}

/// Looks for the messages of one source folder's intents (the folder currently
/// EXAMINEd on `src`) on the target. `taken` are target UIDs already accounted for
/// (by a rematch in the same pass).
pub(crate) async fn find_intents(
    p: &mut FolderPass<'_>,
    src_uidvalidity: u32,
    intents: Vec<Intent>,
    taken: &[u32],
) -> Result<IntentsFound, SyncError> {
    let (current, stale): (Vec<Intent>, Vec<Intent>) = intents
        .into_iter()
        .partition(|i| i.src_uidvalidity == src_uidvalidity);
    // The source folder was recreated since: these UIDs mean nothing any more.
    let mut out = IntentsFound {
        stale: group_by_validity(&stale),
        ..Default::default()
    };
    let mut by_dst: std::collections::BTreeMap<Vec<u8>, Vec<Intent>> = Default::default();
    for i in current {
        by_dst.entry(i.dst_name.clone()).or_default().push(i);
    }
    for (dst_folder, intents) in by_dst {
        let (found, lost) = find_in(p, &dst_folder, &intents, taken).await?;
        out.found.extend(found);
        out.lost.extend(lost);
    }
    if !out.found.is_empty() || !out.lost.is_empty() {
        info!(
            user = p.email,
            folder = %MailboxName::from_wire(p.src_folder.to_vec()),
            found_on_target = out.found.len(),
            to_copy_again = out.lost.len(),
            "looked for messages left in flight by an interrupted pass"
        );
    }
    Ok(out)
}

fn group_by_validity(intents: &[Intent]) -> Vec<(u32, Vec<u32>)> {
    let mut out: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    for i in intents {
        out.entry(i.src_uidvalidity).or_default().push(i.src_uid);
    }
    out.into_iter().collect()
}

/// The intents whose messages went to `dst_folder` (not always the folder's target
/// now: an earlier pass may have mapped it elsewhere): those found there, as copies to
/// record, and the source UIDs of the others.
async fn find_in(
    p: &mut FolderPass<'_>,
    dst_folder: &[u8],
    intents: &[Intent],
    also_taken: &[u32],
) -> Result<(Vec<CopiedMessage>, Vec<u32>), SyncError> {
    let (src, dst) = (&mut *p.src, &mut *p.dst);
    let (store, email, records) = (p.store, p.email, p.records);
    let dst_name = MailboxName::from_wire(dst_folder.to_vec());
    let src_name = MailboxName::from_wire(p.src_folder.to_vec());
    let all: Vec<u32> = intents.iter().map(|i| i.src_uid).collect();
    let selected = match dst.examine(&dst_name).await {
        Ok(s) => s,
        // The target folder does not exist: nothing landed.
        Err(ImapError::No { .. }) => return Ok((Vec::new(), all)),
        Err(e) => return Err(folder_err(Role::Target, &dst_name)(e)),
    };
    let floor = intents
        .iter()
        .map(|i| i.dst_uid_floor)
        .min()
        .unwrap_or(1)
        .max(1);
    let arrived = if selected.exists == Some(0) {
        Vec::new()
    } else {
        dst.fetch_meta(&format!("{floor}:*"))
            .await
            .map_err(folder_err(Role::Target, &dst_name))?
    };
    let mut taken: std::collections::BTreeSet<u32> = store
        .copied_dst_uids(email, records, selected.uid_validity)
        .await?
        .into_iter()
        .collect();
    taken.extend(also_taken);
    let candidates: Vec<Candidate> = arrived
        .iter()
        // "N:*" returns the last message even when its UID is below N.
        .filter(|m| m.uid >= floor && !taken.contains(&m.uid))
        .map(|m| Candidate {
            uid: m.uid,
            size: m.size,
            internal_date: m.internal_date.timestamp(),
        })
        .collect();
    let pairs = planner::pair_intents(intents, &candidates);

    let mut used = std::collections::BTreeSet::new();
    let mut copies = Vec::new();
    for (intent, cands) in pairs {
        let cands: Vec<u32> = cands.into_iter().filter(|u| !used.contains(u)).collect();
        if cands.is_empty() {
            continue;
        }
        // Same size and date is not proof: compare the bytes, piece by piece so that a
        // large message does not have to fit in memory.
        let mut matched = None;
        for cand in cands {
            if same_bytes(src, intent.src_uid, dst, cand, intent.size)
                .await
                .map_err(|(role, e)| match role {
                    Role::Source => folder_err(Role::Source, &src_name)(e),
                    Role::Target => folder_err(Role::Target, &dst_name)(e),
                })?
            {
                matched = Some(cand);
                break;
            }
        }
        if let Some(dst_uid) = matched.as_ref() {
            used.insert(*dst_uid);
            let flags = arrived
                .iter()
                .find(|m| m.uid == *dst_uid)
                .map(|m| m.flags.clone())
                .unwrap_or_default();
            copies.push(CopiedMessage {
                src_uid: intent.src_uid,
                dst_uidvalidity: Some(selected.uid_validity),
                dst_uid: Some(*dst_uid),
                size: intent.size,
                // As appended: the flags the source had then.
                flags,
            });
        }
    }
    let found: Vec<u32> = copies.iter().map(|c| c.src_uid).collect();
    let lost: Vec<u32> = all.iter().copied().filter(|u| !found.contains(u)).collect();
    if found.len() + lost.len() != all.len() {
        warn!(user = email, "intent accounting mismatch");
    }
    Ok((copies, lost))
}

/// Pieces in which two messages are compared.
const COMPARE_PIECE: u32 = 1024 * 1024;

/// Whether source message `src_uid` and target message `dst_uid` (both of `size` bytes)
/// have the same bytes. Errors say which side failed.
async fn same_bytes(
    src: &mut Session,
    src_uid: u32,
    dst: &mut Session,
    dst_uid: u32,
    size: u32,
) -> Result<bool, (Role, ImapError)> {
    let mut offset = 0u64;
    loop {
        let ours = match src.fetch_body_piece(src_uid, offset, COMPARE_PIECE).await {
            Ok(b) => b,
            // Gone from the source since: nothing to match.
            Err(ImapError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err((Role::Source, e)),
        };
        let theirs = match dst.fetch_body_piece(dst_uid, offset, COMPARE_PIECE).await {
            Ok(b) => b,
            Err(ImapError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err((Role::Target, e)),
        };
        if ours != theirs {
            return Ok(false);
        }
        offset += ours.len() as u64;
        if ours.len() < COMPARE_PIECE as usize || offset >= u64::from(size) {
            return Ok(true);
        }
    }
}

/// Bytes compared to tell two messages of the same size and date apart after a
/// UIDVALIDITY change: the header and the start of the body.
const REMATCH_PREFIX: u32 = 64 * 1024;

/// The source folder got a new UIDVALIDITY (recreated, or its index rebuilt): every
/// recorded UID is void. Finds which of its messages are already on the target (same
/// size, date and first bytes as a message copied before) and records them under the
/// new UIDVALIDITY, so that only the others are copied again. `recorded`: what is
/// already recorded under the new UIDVALIDITY (a pass that applied a rematch, then
/// stopped): those source messages and their target messages are taken.
pub(crate) async fn rematch(
    p: &mut FolderPass<'_>,
    old_validity: u32,
    source: &[cutover_imap::MessageMeta],
    recorded: &[CopiedMessage],
) -> Result<Rematched, SyncError> {
    let (src, dst) = (&mut *p.src, &mut *p.dst);
    let (store, email) = (p.store, p.email);
    let (src_folder, dst_folder) = (p.src_folder, p.dst_now);
    let old = store
        .copied_messages(email, p.records, old_validity)
        .await?;
    let old_uids: Vec<u32> = old.iter().map(|c| c.src_uid).collect();
    let dst_name = MailboxName::from_wire(dst_folder.to_vec());
    let src_name = MailboxName::from_wire(src_folder.to_vec());
    let mut copies = Vec::new();
    match dst.examine(&dst_name).await {
        Ok(selected) => {
            let dst_uids: Vec<u32> = old
                .iter()
                .filter(|c| c.dst_uidvalidity == Some(selected.uid_validity))
                .filter_map(|c| c.dst_uid)
                .collect();
            let on_target = if dst_uids.is_empty() {
                Vec::new()
            } else {
                let set = uid_set_string(&dst_uids).map_err(folder_err(Role::Target, &dst_name))?;
                dst.fetch_meta(&set)
                    .await
                    .map_err(folder_err(Role::Target, &dst_name))?
            };
            let mut by_key: std::collections::BTreeMap<
                (u32, i64),
                Vec<&cutover_imap::MessageMeta>,
            > = Default::default();
            for m in &on_target {
                by_key
                    .entry((m.size, m.internal_date.timestamp()))
                    .or_default()
                    .push(m);
            }
            let mut used: std::collections::BTreeSet<u32> =
                recorded.iter().filter_map(|c| c.dst_uid).collect();
            let known: std::collections::BTreeSet<u32> =
                recorded.iter().map(|c| c.src_uid).collect();
            for m in source.iter().filter(|m| !known.contains(&m.uid)) {
                let Some(cands) = by_key.get(&(m.size, m.internal_date.timestamp())) else {
                    continue;
                };
                let mut mine: Option<Vec<u8>> = None;
                for cand in cands.iter().filter(|c| !used.contains(&c.uid)) {
                    let ours = match &mine {
                        Some(b) => b.clone(),
                        None => {
                            let b = src
                                .fetch_body_piece(m.uid, 0, REMATCH_PREFIX)
                                .await
                                .map_err(folder_err(Role::Source, &src_name))?;
                            mine = Some(b.clone());
                            b
                        }
                    };
                    let theirs = dst
                        .fetch_body_piece(cand.uid, 0, REMATCH_PREFIX)
                        .await
                        .map_err(folder_err(Role::Target, &dst_name))?;
                    if theirs == ours {
                        used.insert(cand.uid);
                        copies.push(CopiedMessage {
                            src_uid: m.uid,
                            dst_uidvalidity: Some(selected.uid_validity),
                            dst_uid: Some(cand.uid),
                            size: m.size,
                            // What the target has: the next plan moves it to the source's flags.
                            flags: cand.flags.clone(),
                        });
                        break;
                    }
                }
            }
        }
        Err(ImapError::No { .. }) => {}
        Err(e) => return Err(folder_err(Role::Target, &dst_name)(e)),
    }
    info!(user = email, folder = %src_name, already_on_target = copies.len(), recorded_before = old_uids.len(),
        "matched the folder's messages under its new UIDVALIDITY against the target");
    Ok(Rematched {
        old_validity,
        old_uids,
        found: copies,
    })
}
