//! Applying a mailbox's plan: the only code of a pass that writes to the target and
//! the store. The steps go in the plan's order: renames, the target's folders and
//! subscriptions ([`crate::target_folders`]), the store's repairs, the folders gone
//! from the source ([`crate::lifecycle`]), then every folder's flags, removals, copies
//! and checkpoint in one pipeline (`copy`), each chunk's intents written before its
//! APPEND and its copies recorded after it, in one transaction. Each step is logged as
//! it is applied ("step applied", at info; a folder's checkpoint at debug), in the words
//! `cutover batch plan` prints.

use std::collections::HashMap;

use chrono::Utc;
use cutover_imap::Session;
use cutover_model::PassStart;
use cutover_store::Store;
use tracing::{info, warn};

use crate::copy;
use crate::events::{EventSink, SyncEvent};
use crate::facts::MailboxFacts;
use crate::lifecycle;
use crate::pass::{FolderWork, MailboxJob, PassOutcome, SyncError};
use crate::plan::{MailboxPlan, Step};
use crate::target_folders;

fn applied(email: &str, step: &Step) {
    info!(user = email, %step, "step applied");
}

/// Applies `plan` (made from `facts`) to the target and the store.
pub(crate) async fn apply_plan(
    src: &mut Session,
    dst: &mut Session,
    job: &MailboxJob,
    store: &dyn Store,
    events: &EventSink,
    facts: MailboxFacts,
    plan: MailboxPlan,
) -> Result<PassOutcome, SyncError> {
    let email = job.email.as_str();
    let mut facts = facts;
    let source_listing = std::mem::take(&mut facts.source_listing);
    // A pass that changes the target's folders has not seen what the target made of it
    // (a parent a server made selectable, a rename it reshaped): the next pass looks at
    // both servers again before any may end at a glance.
    let settled = !plan.steps.iter().any(|s| {
        matches!(
            s,
            Step::RenameFolder(_) | Step::CreateFolder { .. } | Step::DeleteFolder { .. }
        )
    });
    // What the plan was made from and no step needs: freed before the copies.
    for f in &mut facts.folders {
        f.view = Default::default();
        f.known = Vec::new();
    }
    let mut outcome = PassOutcome {
        folders: facts.folders.len() as u64,
        source_items: facts.folders.iter().map(|f| u64::from(f.messages)).sum(),
        folders_left_out: facts.folders_left_out.clone(),
        held_removals: plan.held.clone(),
        ..PassOutcome::default()
    };
    // A large copy from a distant source wants more connections: they log in while the
    // folders are made.
    let copy_bytes: Vec<u64> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Copy { messages, .. } => Some(messages.iter().map(|m| u64::from(m.size)).sum()),
            _ => None,
        })
        .collect();
    let early = copy::EarlyLanes::open(src, job, &copy_bytes);
    if let Some(folds) = facts.learned_folds_case {
        store.remember_target_folds_case(folds).await?;
    }
    if let Some(held) = &plan.held {
        warn!(user = email, held = held.messages, detail = %held, "removals held for the admin's approval");
    }

    // Renames first: a renamed folder must not be created anew.
    for step in &plan.steps {
        if let Step::RenameFolder(r) = step {
            lifecycle::rename(dst, store, email, r).await?;
            outcome.folders_renamed += 1;
            applied(email, step);
        }
    }

    // The target's folders and subscriptions, in one round trip or a few.
    let target_folders::SetUp {
        refused,
        parents_by_name,
        refused_subscriptions,
    } = target_folders::set_up(dst, store, email, &plan.steps, &plan.subscriptions_seen).await?;
    for (name, error) in &refused {
        warn!(user = email, folder = %name, %error, "the target refused to create a folder; its mail is not copied");
        outcome.folder_warnings.push(format!(
            "the target refused to create the folder '{}' ({error}): its mail (and its subfolders') was not copied; \
             rename it on the source, or give it another target name with --folder-map",
            name.to_display()
        ));
    }
    // Named as on the source, where the admin knows them.
    let by_name = parents_by_name.iter().filter_map(|p| {
        facts
            .mappings
            .iter()
            .find(|m| m.dst == p.as_bytes())
            .map(|m| &m.src)
    });
    let mut parents: Vec<String> = facts
        .parents_made_selectable
        .iter()
        .chain(by_name)
        .map(|p| cutover_imap::MailboxName::from_wire(p.clone()).to_display())
        .collect();
    parents.sort();
    parents.dedup();
    for name in parents {
        info!(
            user = email,
            folder = name,
            "a source parent is a folder of its own on the target"
        );
        outcome.folder_warnings.push(format!(
            "the source's '{name}' only holds subfolders, but the target keeps it as a folder that can hold mail \
             (it has no such parents); nothing is lost, the folder stays empty"
        ));
    }
    let target_sep = facts.target_separator.and_then(|c| u8::try_from(c).ok());
    let refused: Vec<Vec<u8>> = refused
        .into_iter()
        .map(|(n, _)| n.as_bytes().to_vec())
        .collect();
    let under_refused = |dst: &[u8]| {
        refused.iter().any(|r| {
            dst == r.as_slice()
                || target_sep
                    .is_some_and(|s| dst.len() > r.len() && dst.starts_with(r) && dst[r.len()] == s)
        })
    };
    for step in &plan.steps {
        match step {
            Step::CreateFolder { dst, .. } if !under_refused(dst) => applied(email, step),
            Step::Subscribe { dst, .. } | Step::Unsubscribe { dst, .. }
                if !under_refused(dst)
                    && !refused_subscriptions
                        .iter()
                        .any(|n| n.as_bytes() == dst.as_slice()) =>
            {
                applied(email, step)
            }
            _ => {}
        }
    }

    // The store's repairs, then the folders gone from the source.
    for step in &plan.steps {
        match step {
            Step::Rematch {
                src,
                old_validity,
                new_validity,
                old_uids,
                found,
            } => {
                store
                    .forget_messages(email, src, *old_validity, old_uids)
                    .await?;
                store
                    .record_copies(email, src, *new_validity, found)
                    .await?;
            }
            Step::ResolveIntents {
                src,
                validity,
                found,
                lost,
                stale,
            } => {
                for (old, uids) in stale {
                    store.drop_intents(email, src, *old, uids).await?;
                }
                store.record_copies(email, src, *validity, found).await?;
                store.drop_intents(email, src, *validity, lost).await?;
            }
            Step::ForgetSkipped {
                src,
                validity,
                uids,
            } => store.forget_messages(email, src, *validity, uids).await?,
            Step::DeleteFolder { src, .. }
            | Step::KeepFolder { src, .. }
            | Step::ForgetFolder { src } => {
                let gone = facts
                    .gone
                    .iter()
                    .find(|g| g.src_name == *src)
                    .expect("the plan's gone folders are the facts'");
                let deleted = lifecycle::delete(dst, store, email, src, &gone.state).await?;
                if deleted {
                    outcome.folders_deleted += 1;
                } else if let Step::DeleteFolder { .. } = step {
                    // Mail arrived in it since the plan, or the target refused: kept.
                    info!(user = email, %step, "step not applied: the target folder is kept");
                    continue;
                }
            }
            Step::HoldRemovals(_) => {}
            _ => continue,
        }
        applied(email, step);
    }

    // Folder by folder: flags, removals, copies, checkpoint.
    let mut folders: HashMap<Vec<u8>, crate::facts::FolderFacts> = facts
        .folders
        .into_iter()
        .map(|f| (f.src.clone(), f))
        .collect();
    let mut work: Vec<FolderWork> = Vec::new();
    for step in plan.steps {
        let src = match &step {
            Step::SetFlags { src, .. } | Step::Expunge { src, .. } | Step::Copy { src, .. } => {
                src.clone()
            }
            Step::SaveCheckpoint { state, .. } => state.src_name.clone(),
            _ => continue,
        };
        if work.last().is_none_or(|w| w.src != src) {
            let Some(f) = folders.remove(&src) else {
                unreachable!("the plan's folders are the facts'")
            };
            work.push(FolderWork {
                src: f.src,
                dst: f.dst,
                uid_validity: f.uid_validity,
                metas: f.metas,
                ..Default::default()
            });
        }
        let w = work.last_mut().expect("pushed above");
        w.steps.push((
            step.to_string(),
            matches!(step, Step::SaveCheckpoint { .. }),
        ));
        match step {
            Step::SetFlags { updates, .. } => w.flag_updates = updates,
            Step::Expunge { removals, .. } => w.removals = removals,
            Step::Copy { messages, .. } => w.copies = messages,
            Step::SaveCheckpoint { state, settled } => w.checkpoint = Some((state, settled)),
            _ => {}
        }
    }
    work.retain(|w| !under_refused(&w.dst));
    for w in &mut work {
        // Only what is copied needs its flags and date at hand.
        let copied: std::collections::HashSet<u32> = w.copies.iter().map(|c| c.uid).collect();
        w.metas.retain(|uid, _| copied.contains(uid));
    }
    let planned_messages: u64 = work.iter().map(|w| w.copies.len() as u64).sum();
    let planned_bytes: u64 = work
        .iter()
        .flat_map(|w| &w.copies)
        .map(|c| u64::from(c.size))
        .sum();
    // What the source holds as this pass counts it, and where its copying starts: the
    // mailbox's progress and time left count from here.
    let (items, bytes) = store.copied_totals(email).await?;
    let start = PassStart {
        at: Utc::now(),
        items,
        bytes,
    };
    store
        .start_pass(email, outcome.source_items, bytes + planned_bytes, &start)
        .await?;
    events.send(SyncEvent::UserPlanned {
        email: email.to_string(),
        folders: outcome.folders,
        messages: planned_messages,
        bytes: planned_bytes,
    });
    copy::copy_mailbox(src, dst, &work, job, store, events, &mut outcome, early).await?;
    // Complete and settled: the next pass may end at a glance if the source stays as it
    // is now.
    store
        .set_source_listing(email, settled.then_some(source_listing.as_str()))
        .await?;
    Ok(outcome)
}
