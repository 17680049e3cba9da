//! The plan of one mailbox's pass: one pure function ([`plan_mailbox`]) from what
//! [`crate::observe`] found ([`MailboxFacts`]) to the typed [`Step`]s the pass takes, in
//! the order [`crate::apply`] takes them. `cutover batch plan` prints them; a pass logs
//! each one as it applies it.
//!
//! Order: folder renames (so a renamed folder is not created anew), folder creations and
//! subscription changes, the store's repairs (a new UIDVALIDITY, a crash's intents,
//! skipped messages gone), then the removals' brake and the folders gone from the
//! source, then folder by folder: flags, removals, copies and the checkpoint.

use std::fmt;

use cutover_imap::MailboxName;
use cutover_store::{CopiedMessage, FolderState};

use crate::facts::{FolderFacts, GoneTarget, MailboxFacts, RenamedFolder};
use crate::incremental::{self, FlagUpdate};
use crate::planner::SourceMessage;
use crate::proof::{self, BrakeRule, FolderRemovals, HeldRemovals};
use crate::subscriptions::{FolderSubscription, SubscriptionCase, plan_subscription};

/// One thing a pass does to the target or the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The source renamed a folder: its records follow, and the target folder too when
    /// the target still has the old name (with its subscription).
    RenameFolder(RenamedFolder),
    /// A folder the target lacks. A `parent_only` folder (a source parent that holds no
    /// messages) is made by its subfolders' CREATE, and by name only when the target
    /// refuses them without it.
    CreateFolder {
        src: Vec<u8>,
        dst: Vec<u8>,
        parent_only: bool,
    },
    /// Subscription changes, with the rule that decided them.
    Subscribe {
        src: Vec<u8>,
        dst: Vec<u8>,
        case: SubscriptionCase,
    },
    Unsubscribe {
        src: Vec<u8>,
        dst: Vec<u8>,
        case: SubscriptionCase,
    },
    /// The source folder has a new UIDVALIDITY: the old records go, the messages found
    /// on the target are recorded under the new one.
    Rematch {
        src: Vec<u8>,
        old_validity: u32,
        new_validity: u32,
        old_uids: Vec<u32>,
        found: Vec<CopiedMessage>,
    },
    /// An interrupted pass's intents: those found on the target are recorded as copied,
    /// the others dropped (and copied again).
    ResolveIntents {
        src: Vec<u8>,
        validity: u32,
        found: Vec<CopiedMessage>,
        lost: Vec<u32>,
        stale: Vec<(u32, Vec<u32>)>,
    },
    /// Skipped messages gone from the source are no longer reported.
    ForgetSkipped {
        src: Vec<u8>,
        validity: u32,
        uids: Vec<u32>,
    },
    /// The brake: the pass's removals wait for the admin's approval.
    HoldRemovals(HeldRemovals),
    /// A folder gone from the source whose target folder holds only migrated mail.
    DeleteFolder {
        src: Vec<u8>,
        dst: Vec<u8>,
        migrated: u64,
    },
    /// A folder gone from the source whose target folder holds other mail: kept there,
    /// its records forgotten.
    KeepFolder {
        src: Vec<u8>,
        dst: Vec<u8>,
        foreign: u64,
    },
    /// A folder gone from both sides: its records are forgotten.
    ForgetFolder { src: Vec<u8> },
    SetFlags {
        src: Vec<u8>,
        dst: Vec<u8>,
        validity: u32,
        updates: Vec<FlagUpdate>,
    },
    /// Messages expunged on the source: (source UID, target UID).
    Expunge {
        src: Vec<u8>,
        dst: Vec<u8>,
        validity: u32,
        removals: Vec<(u32, Option<u32>)>,
    },
    /// New messages, newest first.
    Copy {
        src: Vec<u8>,
        dst: Vec<u8>,
        validity: u32,
        messages: Vec<SourceMessage>,
    },
    /// The folder's state for the next pass. Not `settled` (removals held, or the
    /// folder not fully accounted for): no HIGHESTMODSEQ is saved, so the next pass lists
    /// it whole.
    SaveCheckpoint { state: FolderState, settled: bool },
}

fn shown(wire: &[u8]) -> String {
    MailboxName::from_wire(wire.to_vec()).to_display()
}

fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// Bytes for people: 512 B, 1.5 KB, 12.0 MB (powers of 1024).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl Step {
    /// A short name of the kind of step, for scripts (`batch plan --format json`).
    pub fn kind(&self) -> &'static str {
        match self {
            Step::RenameFolder { .. } => "rename-folder",
            Step::CreateFolder { .. } => "create-folder",
            Step::Subscribe { .. } => "subscribe",
            Step::Unsubscribe { .. } => "unsubscribe",
            Step::Rematch { .. } => "rematch",
            Step::ResolveIntents { .. } => "resolve-intents",
            Step::ForgetSkipped { .. } => "forget-skipped",
            Step::HoldRemovals(_) => "hold-removals",
            Step::DeleteFolder { .. } => "delete-folder",
            Step::KeepFolder { .. } => "keep-folder",
            Step::ForgetFolder { .. } => "forget-folder",
            Step::SetFlags { .. } => "set-flags",
            Step::Expunge { .. } => "expunge",
            Step::Copy { .. } => "copy",
            Step::SaveCheckpoint { .. } => "save-checkpoint",
        }
    }

    /// The source folder the step is about (display form), if one.
    pub fn folder(&self) -> Option<String> {
        match self {
            Step::RenameFolder(r) => Some(shown(&r.src_to)),
            Step::CreateFolder { src, .. }
            | Step::Subscribe { src, .. }
            | Step::Unsubscribe { src, .. }
            | Step::Rematch { src, .. }
            | Step::ResolveIntents { src, .. }
            | Step::ForgetSkipped { src, .. }
            | Step::DeleteFolder { src, .. }
            | Step::KeepFolder { src, .. }
            | Step::ForgetFolder { src }
            | Step::SetFlags { src, .. }
            | Step::Expunge { src, .. }
            | Step::Copy { src, .. } => Some(shown(src)),
            Step::SaveCheckpoint { state, .. } => Some(shown(&state.src_name)),
            Step::HoldRemovals(_) => None,
        }
    }

    /// How many messages the step is about, if any.
    pub fn messages(&self) -> Option<u64> {
        Some(match self {
            Step::Rematch { found, .. } => found.len() as u64,
            Step::ResolveIntents { found, lost, .. } => (found.len() + lost.len()) as u64,
            Step::ForgetSkipped { uids, .. } => uids.len() as u64,
            Step::HoldRemovals(held) => held.messages,
            Step::DeleteFolder { migrated, .. } => *migrated,
            Step::KeepFolder { foreign, .. } => *foreign,
            Step::SetFlags { updates, .. } => updates.len() as u64,
            Step::Expunge { removals, .. } => removals.len() as u64,
            Step::Copy { messages, .. } => messages.len() as u64,
            _ => return None,
        })
    }

    /// The bytes a copy moves.
    pub fn bytes(&self) -> Option<u64> {
        match self {
            Step::Copy { messages, .. } => Some(messages.iter().map(|m| u64::from(m.size)).sum()),
            _ => None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::RenameFolder(r) => {
                write!(
                    f,
                    "follow the source's rename of '{}' to '{}'",
                    shown(&r.src_from),
                    shown(&r.src_to)
                )?;
                if r.rename_on_target {
                    write!(
                        f,
                        ": rename '{}' to '{}' on the target",
                        shown(&r.dst_from),
                        shown(&r.dst_to)
                    )?;
                    if r.unsubscribe.is_some() {
                        write!(f, " and unsubscribe the old name")?;
                    }
                    Ok(())
                } else {
                    write!(f, " (the target already has '{}')", shown(&r.dst_to))
                }
            }
            Step::CreateFolder {
                dst, parent_only, ..
            } => {
                if *parent_only {
                    write!(
                        f,
                        "create '{}' on the target as the parent of its subfolders",
                        shown(dst)
                    )
                } else {
                    write!(f, "create the folder '{}' on the target", shown(dst))
                }
            }
            Step::Subscribe { dst, .. } => write!(f, "subscribe to '{}' on the target", shown(dst)),
            Step::Unsubscribe { dst, .. } => {
                write!(f, "unsubscribe from '{}' on the target", shown(dst))
            }
            Step::Rematch {
                src,
                old_validity,
                new_validity,
                old_uids,
                found,
            } => write!(
                f,
                "re-identify '{}' after its UIDVALIDITY changed ({old_validity} to {new_validity}): \
                 {} of {} recorded already on the target",
                shown(src),
                found.len(),
                plural(old_uids.len() as u64, "message")
            ),
            Step::ResolveIntents {
                src, found, lost, ..
            } => write!(
                f,
                "resolve {} an interrupted pass left in flight in '{}': {} found on the target, {} to copy again",
                plural((found.len() + lost.len()) as u64, "message"),
                shown(src),
                found.len(),
                lost.len()
            ),
            Step::ForgetSkipped { src, uids, .. } => write!(
                f,
                "forget {} skipped in '{}' and gone from the source",
                plural(uids.len() as u64, "message"),
                shown(src)
            ),
            Step::HoldRemovals(held) => write!(f, "hold removals: {held}"),
            Step::DeleteFolder { src, dst, migrated } => write!(
                f,
                "delete the folder '{}' on the target (deleted on the source as '{}'; {} migrated)",
                shown(dst),
                shown(src),
                plural(*migrated, "message")
            ),
            Step::KeepFolder { src, dst, foreign } => write!(
                f,
                "keep the folder '{}' on the target (deleted on the source as '{}', but it holds {} that did not come from the source)",
                shown(dst),
                shown(src),
                plural(*foreign, "message")
            ),
            Step::ForgetFolder { src } => write!(
                f,
                "forget the folder '{}' (gone from the source and the target)",
                shown(src)
            ),
            Step::SetFlags { dst, updates, .. } => write!(
                f,
                "change the flags of {} in '{}'",
                plural(updates.len() as u64, "message"),
                shown(dst)
            ),
            Step::Expunge {
                src, dst, removals, ..
            } => write!(
                f,
                "remove {} from '{}' (expunged on the source in '{}')",
                plural(removals.len() as u64, "message"),
                shown(dst),
                shown(src)
            ),
            Step::Copy {
                src, dst, messages, ..
            } => write!(
                f,
                "copy {} ({}) from '{}' to '{}'",
                plural(messages.len() as u64, "message"),
                human_bytes(self.bytes().unwrap_or(0)),
                shown(src),
                shown(dst)
            ),
            Step::SaveCheckpoint { state, settled } => {
                write!(f, "save the checkpoint of '{}'", shown(&state.src_name))?;
                if !settled {
                    f.write_str(" (without HIGHESTMODSEQ: the next pass lists it whole)")?;
                }
                Ok(())
            }
        }
    }
}

/// What the batch says about a pass's removals.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanRules {
    pub brake: BrakeRule,
    /// The admin approved the removals the brake held.
    pub removals_approved: bool,
}

/// The steps of one mailbox's pass, and the bookkeeping that goes with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxPlan {
    pub steps: Vec<Step>,
    /// The removals the brake held, if it held them.
    pub held: Option<HeldRemovals>,
    /// The source's subscriptions to record once the target has them: (source name,
    /// target name, subscribed). Not where the target refuses the change: the next pass
    /// then sees the source's change again.
    pub subscriptions_seen: Vec<(Vec<u8>, Vec<u8>, bool)>,
}

/// The plan of one mailbox's pass.
pub fn plan_mailbox(f: &MailboxFacts, rules: PlanRules) -> MailboxPlan {
    let mut steps = Vec::new();
    for r in &f.renames {
        steps.push(Step::RenameFolder(r.clone()));
    }

    // Folders and subscriptions.
    let mut subscriptions_seen = Vec::new();
    for m in &f.mappings {
        let create = m.create && !f.known_folders.contains(&m.src);
        if create {
            steps.push(Step::CreateFolder {
                src: m.src.clone(),
                dst: m.dst.clone(),
                parent_only: !m.selectable,
            });
        }
        let seen = f.subscriptions_seen.get(&m.src).copied();
        let sub = plan_subscription(&FolderSubscription {
            source: m.subscribe,
            source_seen: seen,
            target: f.target_subscribed.contains(&m.dst),
            target_created: create,
        });
        match sub.step.map(|s| s.subscribes()) {
            Some(true) => steps.push(Step::Subscribe {
                src: m.src.clone(),
                dst: m.dst.clone(),
                case: sub.case,
            }),
            Some(false) => steps.push(Step::Unsubscribe {
                src: m.src.clone(),
                dst: m.dst.clone(),
                case: sub.case,
            }),
            None => {}
        }
        if seen != Some(m.subscribe) {
            subscriptions_seen.push((m.src.clone(), m.dst.clone(), m.subscribe));
        }
    }

    // The store's repairs, before the messages are planned on top of them.
    for folder in f.folders.iter().filter(|x| !x.unchanged) {
        if let Some(r) = &folder.rematched {
            steps.push(Step::Rematch {
                src: folder.src.clone(),
                old_validity: r.old_validity,
                new_validity: folder.uid_validity,
                old_uids: r.old_uids.clone(),
                found: r.found.clone(),
            });
        }
        if let Some(i) = &folder.intents {
            steps.push(Step::ResolveIntents {
                src: folder.src.clone(),
                validity: folder.uid_validity,
                found: i.found.clone(),
                lost: i.lost.clone(),
                stale: i.stale.clone(),
            });
        }
        if !folder.skipped_gone.is_empty() {
            steps.push(Step::ForgetSkipped {
                src: folder.src.clone(),
                validity: folder.uid_validity,
                uids: folder.skipped_gone.clone(),
            });
        }
    }

    // The brake sees every removal of the pass at once: messages and whole folders.
    let plans: Vec<(&FolderFacts, incremental::MessagePlan)> = f
        .folders
        .iter()
        .filter(|x| !x.unchanged)
        .map(|x| (x, incremental::plan_messages(&x.view, &x.known)))
        .collect();
    let removals: Vec<FolderRemovals> = plans
        .iter()
        .filter(|(_, p)| !p.removals.is_empty())
        .map(|(x, p)| FolderRemovals {
            folder: shown(&x.src),
            messages: p.removals.len() as u64,
            whole_folder: false,
        })
        .chain(f.gone.iter().map(|g| FolderRemovals {
            folder: shown(&g.src_name),
            messages: g.migrated,
            whole_folder: true,
        }))
        .collect();
    let held = proof::brake(&removals, f.migrated, rules.brake, rules.removals_approved);
    if let Some(h) = &held {
        steps.push(Step::HoldRemovals(h.clone()));
    } else {
        // Deepest first, so children go before their parents.
        let mut gone: Vec<_> = f.gone.iter().collect();
        gone.sort_by_key(|g| std::cmp::Reverse(g.src_name.len()));
        for g in gone {
            steps.push(match g.target {
                GoneTarget::Missing => Step::ForgetFolder {
                    src: g.src_name.clone(),
                },
                GoneTarget::Holds { foreign: 0 } => Step::DeleteFolder {
                    src: g.src_name.clone(),
                    dst: g.state.dst_name.clone(),
                    migrated: g.migrated,
                },
                GoneTarget::Holds { foreign } => Step::KeepFolder {
                    src: g.src_name.clone(),
                    dst: g.state.dst_name.clone(),
                    foreign,
                },
            });
        }
    }

    // Folder by folder, as the copy pipeline takes them.
    for (x, p) in plans {
        let (src, dst, validity) = (&x.src, &x.dst, x.uid_validity);
        if !p.flag_updates.is_empty() {
            steps.push(Step::SetFlags {
                src: src.clone(),
                dst: dst.clone(),
                validity,
                updates: p.flag_updates,
            });
        }
        let held_here = held.is_some() && !p.removals.is_empty();
        if !p.removals.is_empty() && !held_here {
            steps.push(Step::Expunge {
                src: src.clone(),
                dst: dst.clone(),
                validity,
                removals: p.removals,
            });
        }
        if !p.copies.is_empty() {
            steps.push(Step::Copy {
                src: src.clone(),
                dst: dst.clone(),
                validity,
                messages: p.copies,
            });
        }
        let settled = x.complete && !held_here;
        steps.push(Step::SaveCheckpoint {
            state: FolderState {
                src_name: src.clone(),
                src_uidvalidity: validity,
                dst_name: dst.clone(),
                uidnext: x.uid_next,
                highest_modseq: x.highest_modseq.filter(|_| settled),
                messages: x.messages,
                mailbox_id: x.mailbox_id.clone(),
            },
            settled,
        });
    }
    MailboxPlan {
        steps,
        held,
        subscriptions_seen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{GoneFolder, IntentsFound, Rematched};
    use crate::folder_map::{FolderMapping, MappedBy};
    use crate::incremental::{KnownMessage, ListedMessage, SourceView};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn mapping(name: &str) -> FolderMapping {
        FolderMapping {
            src: name.as_bytes().to_vec(),
            dst: name.as_bytes().to_vec(),
            selectable: true,
            subscribe: true,
            create: false,
            mapped_by: MappedBy::Name,
            renamed_from: None,
        }
    }

    fn listed(uid: u32, flags: &[&str]) -> ListedMessage {
        ListedMessage {
            uid,
            size: 100 * uid,
            internal_date: i64::from(uid),
            flags: flags.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn known(uid: u32, flags: &[&str]) -> KnownMessage {
        KnownMessage {
            src_uid: uid,
            dst_uid: Some(uid + 1000),
            flags: flags.iter().map(|f| f.to_string()).collect(),
        }
    }

    /// A folder seen whole: `present` UIDs on the source (with flags), `known` copied.
    fn folder(name: &str, present: &[(u32, &[&str])], known_: &[(u32, &[&str])]) -> FolderFacts {
        FolderFacts {
            src: name.as_bytes().to_vec(),
            dst: name.as_bytes().to_vec(),
            uid_validity: 7,
            uid_next: Some(100),
            highest_modseq: Some(55),
            messages: present.len() as u32,
            complete: true,
            view: SourceView {
                listed: present.iter().map(|(u, f)| listed(*u, f)).collect(),
                present: Some(present.iter().map(|(u, _)| *u).collect()),
                ..Default::default()
            },
            known: known_.iter().map(|(u, f)| known(*u, f)).collect(),
            ..Default::default()
        }
    }

    fn facts(folders: Vec<FolderFacts>) -> MailboxFacts {
        MailboxFacts {
            mappings: folders
                .iter()
                .map(|f| mapping(std::str::from_utf8(&f.src).unwrap()))
                .collect(),
            known_folders: folders.iter().map(|f| f.src.clone()).collect(),
            subscriptions_seen: folders.iter().map(|f| (f.src.clone(), true)).collect(),
            target_subscribed: folders.iter().map(|f| f.dst.clone()).collect(),
            migrated: 1000,
            folders,
            ..Default::default()
        }
    }

    fn texts(plan: &MailboxPlan) -> Vec<String> {
        plan.steps.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_unchanged_folder_has_no_steps() {
        let mut f = folder("INBOX", &[(1, &[])], &[(1, &[])]);
        f.unchanged = true;
        assert!(
            plan_mailbox(&facts(vec![f]), PlanRules::default())
                .steps
                .is_empty()
        );
    }

    #[test]
    fn a_folder_that_changed_nothing_only_saves_its_checkpoint() {
        let plan = plan_mailbox(
            &facts(vec![folder("INBOX", &[(1, &[])], &[(1, &[])])]),
            PlanRules::default(),
        );
        assert_eq!(texts(&plan), ["save the checkpoint of 'INBOX'"]);
    }

    #[test]
    fn new_messages_are_copied_newest_first_then_the_checkpoint_saved() {
        let plan = plan_mailbox(
            &facts(vec![folder(
                "INBOX",
                &[(1, &[]), (2, &[]), (3, &[])],
                &[(1, &[])],
            )]),
            PlanRules::default(),
        );
        assert_eq!(
            texts(&plan),
            [
                "copy 2 messages (500 B) from 'INBOX' to 'INBOX'",
                "save the checkpoint of 'INBOX'"
            ]
        );
        let Step::Copy { messages, .. } = &plan.steps[0] else {
            panic!()
        };
        assert_eq!(messages.iter().map(|m| m.uid).collect::<Vec<_>>(), [3, 2]);
        let Step::SaveCheckpoint { state, settled } = &plan.steps[1] else {
            panic!()
        };
        assert!(settled);
        assert_eq!(state.highest_modseq, Some(55));
    }

    #[test]
    fn flag_changes_and_removals_come_before_the_copies() {
        let plan = plan_mailbox(
            &facts(vec![folder(
                "INBOX",
                &[(1, &["\\Seen"]), (3, &[])],
                &[(1, &[]), (2, &[])],
            )]),
            PlanRules::default(),
        );
        assert_eq!(
            texts(&plan),
            [
                "change the flags of 1 message in 'INBOX'",
                "remove 1 message from 'INBOX' (expunged on the source in 'INBOX')",
                "copy 1 message (300 B) from 'INBOX' to 'INBOX'",
                "save the checkpoint of 'INBOX'"
            ]
        );
    }

    #[test]
    fn held_removals_are_not_made_and_the_checkpoint_does_not_move_on() {
        let present: Vec<(u32, &[&str])> = vec![(1, &[])];
        let known_: Vec<(u32, &[&str])> = (1..=50).map(|u| (u, &[][..])).collect();
        let mut f = facts(vec![folder("INBOX", &present, &known_)]);
        f.migrated = 50;
        let plan = plan_mailbox(&f, PlanRules::default());
        assert!(plan.held.is_some());
        assert_eq!(plan.steps[0].kind(), "hold-removals");
        assert!(!plan.steps.iter().any(|s| s.kind() == "expunge"));
        let Some(Step::SaveCheckpoint { state, settled }) = plan.steps.last() else {
            panic!()
        };
        assert!(!settled && state.highest_modseq.is_none());
        // Approved: made.
        let plan = plan_mailbox(
            &f,
            PlanRules {
                removals_approved: true,
                ..Default::default()
            },
        );
        assert!(plan.held.is_none());
        assert_eq!(plan.steps[0].messages(), Some(49));
        assert_eq!(plan.steps[0].kind(), "expunge");
    }

    #[test]
    fn an_incomplete_folder_saves_no_highestmodseq_and_removes_nothing() {
        let mut x = folder("INBOX", &[(1, &[])], &[(1, &[]), (2, &[])]);
        x.complete = false;
        x.view.present = None;
        let plan = plan_mailbox(&facts(vec![x]), PlanRules::default());
        assert_eq!(
            texts(&plan),
            [
                "save the checkpoint of 'INBOX' (without HIGHESTMODSEQ: the next pass lists it whole)"
            ]
        );
    }

    #[test]
    fn new_folders_are_created_and_subscribed_as_on_the_source() {
        let mut f = facts(vec![folder("INBOX", &[], &[])]);
        let mut new = mapping("Projects");
        new.create = true;
        let mut parent = mapping("Archive");
        parent.create = true;
        parent.selectable = false;
        parent.subscribe = false;
        f.mappings.push(parent);
        f.mappings.push(new);
        let plan = plan_mailbox(&f, PlanRules::default());
        assert_eq!(
            texts(&plan),
            [
                "create 'Archive' on the target as the parent of its subfolders",
                "create the folder 'Projects' on the target",
                "subscribe to 'Projects' on the target",
                "save the checkpoint of 'INBOX'",
            ]
        );
        assert_eq!(
            plan.subscriptions_seen,
            [
                (b"Archive".to_vec(), b"Archive".to_vec(), false),
                (b"Projects".to_vec(), b"Projects".to_vec(), true)
            ]
        );
    }

    #[test]
    fn a_known_folder_is_never_created_again() {
        let mut f = facts(vec![folder("INBOX", &[], &[])]);
        f.mappings[0].create = true;
        let plan = plan_mailbox(&f, PlanRules::default());
        assert!(!plan.steps.iter().any(|s| s.kind() == "create-folder"));
    }

    #[test]
    fn an_unsubscription_on_the_source_follows() {
        let mut f = facts(vec![folder("INBOX", &[], &[])]);
        f.mappings[0].subscribe = false;
        let plan = plan_mailbox(&f, PlanRules::default());
        assert_eq!(
            plan.steps[0].to_string(),
            "unsubscribe from 'INBOX' on the target"
        );
    }

    #[test]
    fn renames_come_first() {
        let mut f = facts(vec![folder("New", &[], &[])]);
        f.renames.push(RenamedFolder {
            src_from: b"Old".to_vec(),
            src_to: b"New".to_vec(),
            dst_from: b"Old".to_vec(),
            dst_to: b"New".to_vec(),
            rename_on_target: true,
            unsubscribe: Some(b"Old".to_vec()),
        });
        let plan = plan_mailbox(&f, PlanRules::default());
        assert_eq!(
            plan.steps[0].to_string(),
            "follow the source's rename of 'Old' to 'New': rename 'Old' to 'New' on the target and unsubscribe the old name"
        );
    }

    fn gone(name: &str, migrated: u64, target: GoneTarget) -> GoneFolder {
        GoneFolder {
            src_name: name.as_bytes().to_vec(),
            state: FolderState {
                src_name: name.as_bytes().to_vec(),
                src_uidvalidity: 3,
                dst_name: name.as_bytes().to_vec(),
                uidnext: None,
                highest_modseq: None,
                messages: 0,
                mailbox_id: None,
            },
            migrated,
            target,
        }
    }

    #[test]
    fn gone_folders_are_deleted_deepest_first_kept_or_forgotten() {
        let mut f = facts(vec![folder("INBOX", &[], &[])]);
        f.gone = vec![
            gone("A", 0, GoneTarget::Holds { foreign: 0 }),
            gone("A/B", 0, GoneTarget::Holds { foreign: 0 }),
            gone("C", 0, GoneTarget::Holds { foreign: 2 }),
            gone("D", 0, GoneTarget::Missing),
        ];
        let kinds: Vec<(&str, String)> = plan_mailbox(&f, PlanRules::default())
            .steps
            .iter()
            .map(|s| (s.kind(), s.folder().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("delete-folder", "A/B".to_string()),
                ("delete-folder", "A".into()),
                ("keep-folder", "C".into()),
                ("forget-folder", "D".into()),
                ("save-checkpoint", "INBOX".into()),
            ]
        );
    }

    #[test]
    fn a_gone_folder_with_migrated_mail_waits_for_approval() {
        let mut f = facts(vec![folder("INBOX", &[], &[])]);
        f.gone = vec![gone("Old", 3, GoneTarget::Holds { foreign: 0 })];
        let plan = plan_mailbox(&f, PlanRules::default());
        assert_eq!(plan.steps[0].kind(), "hold-removals");
        assert!(!plan.steps.iter().any(|s| s.kind() == "delete-folder"));
    }

    #[test]
    fn the_stores_repairs_come_before_the_messages() {
        let mut x = folder("INBOX", &[(1, &[]), (2, &[])], &[(1, &[])]);
        x.rematched = Some(Rematched {
            old_validity: 3,
            old_uids: vec![5, 6],
            found: vec![],
        });
        x.intents = Some(IntentsFound {
            found: vec![],
            lost: vec![2],
            stale: vec![],
        });
        x.skipped_gone = vec![9];
        let plan = plan_mailbox(&facts(vec![x]), PlanRules::default());
        assert_eq!(
            texts(&plan),
            [
                "re-identify 'INBOX' after its UIDVALIDITY changed (3 to 7): 0 of 2 messages recorded already on the target",
                "resolve 1 message an interrupted pass left in flight in 'INBOX': 0 found on the target, 1 to copy again",
                "forget 1 message skipped in 'INBOX' and gone from the source",
                "copy 1 message (200 B) from 'INBOX' to 'INBOX'",
                "save the checkpoint of 'INBOX'",
            ]
        );
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KB");
        assert_eq!(human_bytes(12 * 1024 * 1024), "12.0 MB");
    }

    proptest! {
        /// Over any folder: every source message is copied or known once; no removal
        /// is made unless the folder is complete and the brake lets it; every changed
        /// folder ends with its checkpoint, and nothing follows a folder's checkpoint
        /// but the next folder's steps.
        #[test]
        fn plans_copy_each_missing_message_once_and_remove_only_on_proof(
            present in proptest::collection::btree_set(1u32..60, 0..40),
            known_ in proptest::collection::btree_set(1u32..60, 0..40),
            complete in any::<bool>(),
            approved in any::<bool>(),
        ) {
            let p: Vec<(u32, &[&str])> = present.iter().map(|u| (*u, &[][..])).collect();
            let k: Vec<(u32, &[&str])> = known_.iter().map(|u| (*u, &[][..])).collect();
            let mut x = folder("INBOX", &p, &k);
            x.complete = complete;
            if !complete {
                x.view.present = None;
            }
            let mut f = facts(vec![x]);
            f.migrated = known_.len() as u64;
            let plan = plan_mailbox(&f, PlanRules { removals_approved: approved, ..Default::default() });
            let copied: BTreeSet<u32> = plan.steps.iter().flat_map(|s| match s {
                Step::Copy { messages, .. } => messages.iter().map(|m| m.uid).collect(),
                _ => Vec::new(),
            }).collect();
            let copies: usize = plan.steps.iter().map(|s| match s {
                Step::Copy { messages, .. } => messages.len(),
                _ => 0,
            }).sum();
            prop_assert_eq!(copies, copied.len());
            let missing: BTreeSet<u32> = present.difference(&known_).copied().collect();
            prop_assert_eq!(&copied, &missing);
            let removed: BTreeSet<u32> = plan.steps.iter().flat_map(|s| match s {
                Step::Expunge { removals, .. } => removals.iter().map(|r| r.0).collect(),
                _ => Vec::new(),
            }).collect();
            if !complete || plan.held.is_some() {
                prop_assert!(removed.is_empty());
            } else {
                let gone: BTreeSet<u32> = known_.difference(&present).copied().collect();
                prop_assert_eq!(&removed, &gone);
            }
            prop_assert_eq!(plan.steps.last().map(Step::kind), Some("save-checkpoint"));
            if let Some(Step::SaveCheckpoint { settled, state }) = plan.steps.last() {
                prop_assert_eq!(*settled, complete && plan.held.is_none());
                prop_assert_eq!(state.highest_modseq.is_some(), *settled);
            }
        }
    }
}
