//! A glance at the source before a pass: when nothing there changed since the last pass
//! that completed, the pass ends after one login and one round trip (LIST, LSUB and
//! NAMESPACE, the LIST bringing every folder's STATUS where the source has LIST-STATUS;
//! else one pipelined STATUS of the folders more), and never connects to the target.
//! That is most incremental passes of a cutover batch: thousands of mailboxes where
//! nothing arrived.
//!
//! Nothing changed means: the source lists the same folders with the same attributes and
//! subscriptions, under the same batch rules (excluded folders, folder map), as when the
//! last complete pass ended that left the target's folders as they were (a digest of them
//! is kept, [`listing_digest`]; a pass that created, renamed or deleted target folders
//! keeps none, so the next one looks at what the target made of them); every folder's
//! STATUS equals its checkpoint, HIGHESTMODSEQ included (so flags did not change either:
//! only a source with CONDSTORE can say so); and nothing waits for a pass (an interrupted
//! copy's intents, skipped messages to try again, removals held or approved). Anything
//! else is a full pass, which looks at both servers.

use cutover_imap::{ImapError, MailboxName, MailboxStatus, Session};
use cutover_store::{FolderState, Store};

use crate::listing::listing_digest;
use crate::observe::{SideFolders, read_folders};
use crate::pass::{MailboxJob, PassOutcome, Role, SyncError};

/// Whether every folder's STATUS now equals its checkpoint (and the checkpoint can vouch
/// for the flags: it has a HIGHESTMODSEQ, and a MAILBOXID where the source has them).
pub fn folders_unchanged(
    states: &[FolderState],
    now: &[Result<MailboxStatus, ImapError>],
    object_ids: bool,
) -> bool {
    !states.is_empty()
        && states.len() == now.len()
        && states.iter().zip(now).all(|(st, status)| {
            let Ok(status) = status else {
                return false;
            };
            st.highest_modseq.is_some()
                && (st.mailbox_id.is_some() || !object_ids)
                && status.uid_validity == Some(st.src_uidvalidity)
                && status.uid_next == st.uidnext
                && status.messages == st.messages
                && status.highest_modseq == st.highest_modseq
        })
}

/// Looks at the source alone; `Some` when the pass is over already (nothing changed),
/// `None` when a full pass must follow.
pub(crate) async fn unchanged_source(
    src: &mut Session,
    job: &MailboxJob,
    store: &dyn Store,
) -> Result<Option<PassOutcome>, SyncError> {
    let email = job.email.as_str();
    let caps = src.capabilities().clone();
    if !job.may_glance || job.removals_approved || !caps.has("CONDSTORE") {
        return Ok(None);
    }
    let Some(known) = store.source_listing(email).await? else {
        return Ok(None);
    };
    match store.user(email).await? {
        Some(u) if u.removals_held == 0 && u.removals_approved_at.is_none() => {}
        _ => return Ok(None),
    }
    if !store.skipped_items(email).await?.is_empty() {
        return Ok(None);
    }
    if store.has_intents(email).await? {
        return Ok(None);
    }
    let states = store.folder_states(email).await?;
    // The same listing, in one round trip, that the pass digested.
    let SideFolders {
        listed,
        subscribed,
        statuses: listed_statuses,
        ..
    } = read_folders(src, Role::Source, &[]).await?;
    if listing_digest(&listed, &subscribed, &job.excluded_folders, &job.folder_map) != known {
        return Ok(None);
    }
    let names: Vec<MailboxName> = states
        .iter()
        .map(|st| MailboxName::from_wire(st.src_name.clone()))
        .collect();
    // From the listing where the source has LIST-STATUS: then the glance is one round trip.
    let now = src
        .statuses_after_listing(&names, &listed_statuses)
        .await
        .map_err(|source| SyncError::Imap {
            role: Role::Source,
            source,
        })?;
    if !folders_unchanged(&states, &now, caps.has("OBJECTID")) {
        return Ok(None);
    }
    Ok(Some(PassOutcome {
        folders: states.len() as u64,
        source_items: states.iter().map(|s| u64::from(s.messages)).sum(),
        source_unchanged: true,
        ..PassOutcome::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn state(i: u32) -> FolderState {
        FolderState {
            src_name: format!("F{i}").into_bytes(),
            src_uidvalidity: 100 + i,
            dst_name: format!("F{i}").into_bytes(),
            uidnext: Some(10 + i),
            highest_modseq: Some(1000 + u64::from(i)),
            messages: 5 + i,
            mailbox_id: None,
        }
    }

    fn status_of(st: &FolderState) -> MailboxStatus {
        MailboxStatus {
            messages: st.messages,
            uid_next: st.uidnext,
            uid_validity: Some(st.src_uidvalidity),
            highest_modseq: st.highest_modseq,
            size: Some(1234),
        }
    }

    proptest! {
        #[test]
        fn any_change_in_any_folder_means_a_full_pass(
            n in 1u32..8, which in 0usize..8, field in 0usize..6,
        ) {
            let states: Vec<FolderState> = (0..n).map(state).collect();
            let mut now: Vec<Result<MailboxStatus, ImapError>> =
                states.iter().map(|s| Ok(status_of(s))).collect();
            prop_assert!(folders_unchanged(&states, &now, false));
            let i = which % states.len();
            let s = now[i].as_mut().unwrap();
            match field {
                0 => s.messages += 1,
                1 => s.uid_next = s.uid_next.map(|u| u + 1),
                2 => s.uid_validity = s.uid_validity.map(|u| u + 1),
                3 => s.highest_modseq = s.highest_modseq.map(|m| m + 1),
                4 => now[i] = Err(ImapError::Protocol("gone".into())),
                _ => { now.pop(); }
            }
            prop_assert!(!folders_unchanged(&states, &now, false));
        }
    }

    #[test]
    fn a_checkpoint_without_modseq_or_mailbox_id_cannot_vouch_for_its_folder() {
        let mut st = state(1);
        let now = vec![Ok(status_of(&st))];
        assert!(folders_unchanged(std::slice::from_ref(&st), &now, false));
        assert!(!folders_unchanged(std::slice::from_ref(&st), &now, true));
        st.mailbox_id = Some("M1".into());
        assert!(folders_unchanged(std::slice::from_ref(&st), &now, true));
        st.highest_modseq = None;
        let now = vec![Ok(MailboxStatus {
            highest_modseq: None,
            ..status_of(&st)
        })];
        assert!(!folders_unchanged(&[st], &now, false));
        assert!(!folders_unchanged(&[], &[], false));
    }
}
