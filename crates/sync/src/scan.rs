//! Looking at one source folder before a pass acts on it: as cheaply as the server
//! allows (STATUS when nothing changed, CONDSTORE/QRESYNC deltas when it has them, a
//! full listing otherwise), after recovering from an interrupted pass and from a changed
//! UIDVALIDITY. Returns the plan of what to do to the folder's messages.

use std::collections::{BTreeSet, HashMap};

use cutover_imap::{ImapError, MailboxName, MessageMeta};
use cutover_store::FolderState;
use tracing::{debug, info};

use crate::executor::{FolderPass, Role, SyncError};
use crate::incremental::{self, KnownMessage, ListedMessage, MessagePlan, SourceView};
use crate::recovery;

/// What the source server lets a pass use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceModes {
    /// CONDSTORE: HIGHESTMODSEQ and CHANGEDSINCE.
    pub condstore: bool,
    /// QRESYNC enabled: VANISHED.
    pub qresync: bool,
}

/// A source folder, looked at.
#[derive(Debug, Clone, Default)]
pub struct FolderScan {
    pub uid_validity: u32,
    pub uid_next: Option<u32>,
    pub highest_modseq: Option<u64>,
    pub messages: u32,
    /// Metadata of the messages that may be copied (flags and date for the APPEND).
    pub metas: HashMap<u32, MessageMeta>,
    pub plan: MessagePlan,
    /// Nothing changed since the last pass (STATUS said so); nothing was selected.
    pub unchanged: bool,
}

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

/// Scans one source folder (`p.dst_folder` is where its messages go on the target).
/// `state` is what the last pass saw of it; `skipped` the UIDs of its skipped items.
pub(crate) async fn scan_folder(
    p: &mut FolderPass<'_>,
    state: Option<&FolderState>,
    modes: SourceModes,
    skipped: &[u32],
) -> Result<FolderScan, SyncError> {
    let (store, email, src_folder) = (p.store, p.email, p.src_folder);
    // Skipped messages sit below UIDNEXT: only a full listing offers them again.
    let retry_skipped = !skipped.is_empty();
    let name = MailboxName::from_wire(src_folder.to_vec());
    let err = |source: ImapError| SyncError::Folder {
        role: Role::Source,
        folder: name.to_display(),
        source,
    };
    let intents = store.intents(email, src_folder).await?;

    // Nothing changed: same UIDVALIDITY, UIDNEXT, count and HIGHESTMODSEQ. Only a server
    // with CONDSTORE can say that flags did not change, so only then is this trusted.
    if let Some(st) = state
        && intents.is_empty()
        && !retry_skipped
        && modes.condstore
        && st.highest_modseq.is_some()
    {
        let status = p.src.status(&name).await.map_err(err)?;
        if status.uid_validity == Some(st.src_uidvalidity)
            && status.uid_next == st.uidnext
            && status.messages == st.messages
            && status.highest_modseq == st.highest_modseq
        {
            return Ok(FolderScan {
                uid_validity: st.src_uidvalidity,
                uid_next: st.uidnext,
                highest_modseq: st.highest_modseq,
                messages: st.messages,
                unchanged: true,
                ..Default::default()
            });
        }
    }

    let selected = p.src.examine(&name).await.map_err(err)?;
    let validity = selected.uid_validity;
    let mut recovered = false;
    if let Some(st) = state
        && st.src_uidvalidity != validity
    {
        info!(user = email, folder = %name, old = st.src_uidvalidity, new = validity,
            "UIDVALIDITY changed on the source; matching its messages against the target");
        let all = if selected.exists > 0 {
            p.src.fetch_meta("1:*").await.map_err(err)?
        } else {
            Vec::new()
        };
        recovery::rematch_folder(p, st.src_uidvalidity, validity, &all).await?;
        recovered = true;
    }
    if !intents.is_empty() {
        recovery::resolve_intents(p, validity, intents).await?;
        recovered = true;
    }
    let known: Vec<KnownMessage> = store
        .copied_messages(email, src_folder, validity)
        .await?
        .into_iter()
        .map(|c| KnownMessage {
            src_uid: c.src_uid,
            dst_uid: c.dst_uid,
            flags: c.flags,
        })
        .collect();

    // A delta needs the last pass's UIDNEXT and HIGHESTMODSEQ at this UIDVALIDITY, and
    // nothing below UIDNEXT that still waits to be copied (recovered or skipped items).
    let delta_from = state
        .filter(|st| st.src_uidvalidity == validity && !recovered && !retry_skipped)
        .and_then(|st| Some((st.uidnext?, st.highest_modseq?)))
        .filter(|_| modes.condstore && selected.highest_modseq.is_some());
    let (view, metas) = match delta_from {
        Some((uid_next, modseq)) if selected.exists > 0 => {
            let changes = p
                .src
                .fetch_changed(
                    &format!("1:{}", uid_next.saturating_sub(1).max(1)),
                    modseq,
                    modes.qresync,
                )
                .await
                .map_err(err)?;
            let new: Vec<MessageMeta> = p
                .src
                .fetch_meta(&format!("{uid_next}:*"))
                .await
                .map_err(err)?
                .into_iter()
                // "N:*" answers the last message even when its UID is below N.
                .filter(|m| m.uid >= uid_next)
                .collect();
            // The server's sets stay ranges; only the UIDs this pass asks about are
            // looked up in them.
            let mut asked: Vec<u32> = known
                .iter()
                .map(|k| k.src_uid)
                .chain(skipped.iter().copied())
                .chain(changes.flags.iter().map(|(uid, _)| *uid))
                .chain(new.iter().map(|m| m.uid))
                .collect();
            asked.sort_unstable();
            asked.dedup();
            let present = if modes.qresync {
                None
            } else {
                let all = p.src.search_all_uids().await.map_err(err)?;
                Some(all.intersect(&asked).into_iter().collect::<BTreeSet<u32>>())
            };
            debug!(user = email, folder = %name, changed = changes.flags.len(), vanished = changes.vanished.count(), new = new.len(), "delta since the last pass");
            (
                SourceView {
                    listed: listed(&new),
                    vanished: changes.vanished.intersect(&asked),
                    changed_flags: changes.flags,
                    present,
                },
                new,
            )
        }
        _ => {
            let all = if selected.exists > 0 {
                p.src.fetch_meta("1:*").await.map_err(err)?
            } else {
                Vec::new()
            };
            (
                SourceView {
                    listed: listed(&all),
                    present: Some(all.iter().map(|m| m.uid).collect()),
                    ..Default::default()
                },
                all,
            )
        }
    };
    // Skipped messages gone from the source are no longer skipped.
    let gone: Vec<u32> = skipped
        .iter()
        .copied()
        .filter(|u| {
            view.vanished.contains(u) || view.present.as_ref().is_some_and(|p| !p.contains(u))
        })
        .collect();
    if !gone.is_empty() {
        store
            .forget_messages(email, src_folder, validity, &gone)
            .await?;
    }
    Ok(FolderScan {
        uid_validity: validity,
        uid_next: selected.uid_next,
        highest_modseq: selected.highest_modseq,
        messages: selected.exists,
        plan: incremental::plan_messages(&view, &known),
        metas: metas.into_iter().map(|m| (m.uid, m)).collect(),
        unchanged: false,
    })
}
