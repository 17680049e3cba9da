//! One pass over one mailbox: list both sides, follow renamed and deleted folders,
//! create the missing ones, scan each source folder, then apply the flag changes and
//! removals and copy the new messages of every folder in one pipeline (`copy`).
//!
//! Every copied message is recorded in the store (source folder, UIDVALIDITY, UID ->
//! target UID) in the same transaction for a whole appended chunk, so a later pass
//! never copies it again.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use cutover_imap::{ImapError, Limits, MailboxName, Session};
use cutover_store::{FolderState, SkippedItem, Store};
use tracing::{debug, info, warn};

use crate::copy;
use crate::credentials::Side;
use crate::events::{EventSink, SyncEvent};
use crate::folder_map::{self, FolderRules, ListedFolder, MappedBy, Separators, SpecialUse};
use crate::lifecycle;
use crate::namespace::{self, SideNamespace};
use crate::pass::{FolderPass, FolderWork, SourceModes};
pub use crate::pass::{MailboxJob, PassOutcome, Role, SyncError};
use crate::proof::{self, FolderRemovals};
use crate::scan;
use crate::target_folders;

async fn open(side: &Side, role: Role) -> Result<Session, SyncError> {
    let addr = side.addr.to_string();
    let connect_err = |source| SyncError::Connect {
        role,
        addr: addr.clone(),
        source,
    };
    // The operator's CUTOVER_IMAP_* limits and timeouts, read here for every session.
    let limits = Limits::from_env().map_err(connect_err)?;
    let mut session = Session::connect_limited(&side.addr, &[], &side.tls, limits)
        .await
        .map_err(connect_err)?;
    session
        .authenticate(&side.credentials)
        .await
        .map_err(|source| SyncError::Login {
            role,
            addr,
            identity: side.credentials.identity().to_string(),
            source,
        })?;
    if side.compress {
        session
            .compress()
            .await
            .map_err(|source| SyncError::Imap { role, source })?;
    }
    Ok(session)
}

fn separator(listed: &[cutover_imap::ListedMailbox]) -> Option<char> {
    listed.iter().find_map(|m| m.delimiter)
}

/// Whether the target compares folder names without regard to case: the admin's setting
/// or what an earlier pass found, else a probe of the server, remembered for the target.
/// Two listed folders that differ only in case prove it does not; else the server is
/// asked for an existing folder with its case swapped (or for a probe folder it creates
/// and deletes, in a mailbox with no folder to ask about).
async fn target_folds_case(
    dst: &mut Session,
    listed: &[cutover_imap::ListedMailbox],
    ns: &SideNamespace,
    job: &MailboxJob,
    store: &dyn Store,
) -> Result<bool, SyncError> {
    if let Some(known) = job.target_folds_case {
        return Ok(known);
    }
    let err = |source| SyncError::Imap {
        role: Role::Target,
        source,
    };
    let names: Vec<&[u8]> = listed.iter().map(|m| m.name.as_bytes()).collect();
    let folds = if folder_map::has_case_twins(&names) {
        false
    } else if let Some(swapped) = listed
        .iter()
        .filter(|m| m.is_selectable() && !folder_map::is_inbox(m.name.as_bytes()))
        .find_map(|m| folder_map::case_swapped(m.name.as_bytes()))
    {
        answers(dst, &MailboxName::from_wire(swapped))
            .await
            .map_err(err)?
    } else {
        // In the user's own namespace (`INBOX.` on Cyrus), where the user may create.
        let probe = MailboxName::from_wire(ns.absolute(b"cutover-case-probe"));
        let asked = MailboxName::from_wire(ns.absolute(b"CUTOVER-CASE-PROBE"));
        match dst.create(&probe).await {
            Ok(_) => {
                let folds = answers(dst, &asked).await.map_err(err);
                dst.delete(&probe).await.map_err(err)?;
                folds?
            }
            // Cannot ask: IMAP's own rule, case-sensitive, for this pass only.
            Err(e @ ImapError::No { .. }) => {
                warn!(error = %e, "cannot probe how the target compares folder names; taking them as case-sensitive for this pass");
                return Ok(false);
            }
            Err(e) => return Err(err(e)),
        }
    };
    info!(
        folds_case = folds,
        "the target's folder names compare {}",
        if folds {
            "without regard to case"
        } else {
            "case-sensitively"
        }
    );
    store.remember_target_folds_case(folds).await?;
    Ok(folds)
}

/// Whether STATUS of `asked` (an existing folder's name, its case swapped) answers: then
/// the server took it for that folder (NO: another name, which does not exist).
async fn answers(dst: &mut Session, asked: &MailboxName) -> Result<bool, ImapError> {
    match dst.status(asked).await {
        Ok(_) => Ok(true),
        Err(ImapError::No { .. }) => Ok(false),
        // It answered OK, with the data under the name as the server stores it.
        Err(ImapError::Protocol(_)) => Ok(true),
        Err(e) => Err(e),
    }
}

/// A side's personal namespace: from NAMESPACE, else inferred from its folders.
async fn side_namespace(
    session: &mut Session,
    role: Role,
    listed: &[cutover_imap::ListedMailbox],
) -> Result<SideNamespace, SyncError> {
    let announced = session
        .namespaces()
        .await
        .map_err(|source| SyncError::Imap { role, source })?;
    let names: Vec<&[u8]> = listed.iter().map(|m| m.name.as_bytes()).collect();
    let side = SideNamespace::new(announced.as_ref(), &names, separator(listed));
    debug!(%role, prefix = %String::from_utf8_lossy(&side.personal), separator = ?side.separator,
        source = ?side.source, "personal namespace");
    Ok(side)
}

/// A server's folders (with special-use attributes) and its subscriptions.
async fn list_folders(
    session: &mut Session,
    role: Role,
) -> Result<(Vec<cutover_imap::ListedMailbox>, BTreeSet<Vec<u8>>), SyncError> {
    let err = |source| SyncError::Imap { role, source };
    let listed = session.list_special_use().await.map_err(err)?;
    let subscribed = session
        .lsub()
        .await
        .map_err(err)?
        .into_iter()
        .map(|m| m.name.as_bytes().to_vec())
        .collect();
    Ok((listed, subscribed))
}

/// Asks the source for change tracking: QRESYNC (which includes CONDSTORE) when it
/// has it, else CONDSTORE.
async fn enable_change_tracking(src: &mut Session) -> Result<SourceModes, SyncError> {
    let caps = src.capabilities().clone();
    let wanted: &[&str] = if caps.has("QRESYNC") {
        &["QRESYNC"]
    } else if caps.has("CONDSTORE") {
        &["CONDSTORE"]
    } else {
        &[]
    };
    let enabled = src.enable(wanted).await.map_err(|source| SyncError::Imap {
        role: Role::Source,
        source,
    })?;
    let qresync = enabled.iter().any(|e| e == "QRESYNC");
    Ok(SourceModes {
        condstore: qresync || caps.has("CONDSTORE"),
        qresync,
    })
}

/// Runs one pass for one mailbox.
pub async fn sync_mailbox(
    job: &MailboxJob,
    store: &dyn Store,
    events: &EventSink,
) -> Result<PassOutcome, SyncError> {
    let started = Instant::now();
    let email = job.email.as_str();
    let mut src = open(&job.source, Role::Source).await?;
    let mut dst = open(&job.target, Role::Target).await?;
    let modes = enable_change_tracking(&mut src).await?;
    let mut states: HashMap<Vec<u8>, FolderState> = store
        .folder_states(email)
        .await?
        .into_iter()
        .map(|s| (s.src_name.clone(), s))
        .collect();

    // With special-use attributes, so Sent goes to Sent whatever each side calls it.
    let (src_list, src_subscribed) = list_folders(&mut src, Role::Source).await?;
    let (dst_list, dst_subscribed) = list_folders(&mut dst, Role::Target).await?;
    // Names relative to each side's personal namespace: Cyrus's `INBOX.Sent` is
    // Dovecot's `Sent`. Other users' and shared folders are not this mailbox's mail.
    let src_ns = side_namespace(&mut src, Role::Source, &src_list).await?;
    let dst_ns = side_namespace(&mut dst, Role::Target, &dst_list).await?;
    let seps = Separators {
        source: src_ns.separator,
        target: dst_ns.separator,
    };
    let listed = |l: &[cutover_imap::ListedMailbox],
                  subs: &BTreeSet<Vec<u8>>|
     -> Vec<ListedFolder> {
        l.iter()
            .map(|m| ListedFolder {
                name: m.name.as_bytes().to_vec(),
                selectable: m.is_selectable(),
                subscribed: subs.contains(m.name.as_bytes()),
                special_use: SpecialUse::from_attributes(m.attributes.iter().map(String::as_str)),
            })
            .collect()
    };
    let src_rel = namespace::relative_listing(&src_ns, &listed(&src_list, &src_subscribed));
    let dst_rel = namespace::relative_listing(&dst_ns, &listed(&dst_list, &dst_subscribed));
    let mut outcome = PassOutcome {
        folders_left_out: src_rel
            .foreign
            .iter()
            .map(|n| MailboxName::from_wire(n.clone()).to_display())
            .collect(),
        ..PassOutcome::default()
    };
    if !outcome.folders_left_out.is_empty() {
        info!(user = email, folders = ?outcome.folders_left_out,
            "folders of other users' or shared namespaces are left out");
    }
    let mut mappings = folder_map::plan_folders(
        &src_rel.folders,
        &dst_rel.folders,
        seps,
        FolderRules {
            excluded: &job.excluded_folders,
            folder_map: &job.folder_map,
            target_folds_case: target_folds_case(&mut dst, &dst_list, &dst_ns, job, store).await?,
        },
    );
    // Back to each side's wire names.
    for m in &mut mappings {
        m.src = src_rel
            .wire
            .get(&m.src)
            .cloned()
            .unwrap_or_else(|| src_ns.absolute(&m.src));
        m.dst = dst_ns.absolute(&m.dst);
        if let Some(taken) = &mut m.renamed_from {
            *taken = dst_ns.absolute(taken);
        }
    }
    for m in &mappings {
        let (src_name, dst_name) = (
            MailboxName::from_wire(m.src.clone()),
            MailboxName::from_wire(m.dst.clone()),
        );
        if let Some(wanted) = &m.renamed_from {
            let wanted = MailboxName::from_wire(wanted.clone());
            warn!(user = email, folder = %src_name, target = %dst_name, taken = %wanted,
                "another source folder already goes to the target folder; this one gets its own");
        } else if m.mapped_by != MappedBy::Name {
            debug!(user = email, folder = %src_name, target = %dst_name, by = ?m.mapped_by, "folder mapped");
        }
    }

    // Renames first: a renamed folder must not be created anew. Folders proven gone are
    // deleted after the scan, once the brake has seen every removal of the pass.
    let (mut folder_changes, gone) =
        lifecycle::follow_renames(&mut src, &mut dst, store, email, &mappings, &mut states).await?;
    outcome.folders_renamed = folder_changes.renamed.len() as u64;

    // Folders next, so the hierarchy exists even where no message goes, and the
    // subscriptions the source changed; all in one round trip or a few.
    let refused =
        target_folders::set_up(&mut dst, store, email, &mappings, &states, &dst_subscribed).await?;
    for (name, error) in &refused {
        warn!(user = email, folder = %name, %error, "the target refused to create a folder; its mail is not copied");
        outcome.folder_warnings.push(format!(
            "the target refused to create the folder '{}' ({error}): its mail (and its subfolders') was not copied; \
             rename it on the source, or give it another target name with --folder-map",
            name.to_display()
        ));
    }
    let target_sep = dst_ns.separator.and_then(|c| u8::try_from(c).ok());
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

    // Scan: what changed in each source folder, and the plan for it.
    let skipped: Vec<SkippedItem> = store.skipped_items(email).await?;
    let mut work = Vec::new();
    for m in mappings
        .into_iter()
        .filter(|m| m.selectable && !under_refused(&m.dst))
    {
        if let Some(reason) = job.stop.reason() {
            return Err(SyncError::Stopped(reason));
        }
        let skipped_here: Vec<u32> = skipped
            .iter()
            .filter(|i| i.src_name == m.src)
            .map(|i| i.src_uid)
            .collect();
        let mut pass = FolderPass {
            src: &mut src,
            dst: &mut dst,
            store,
            email,
            src_folder: &m.src,
            dst_folder: &m.dst,
        };
        let scan = scan::scan_folder(&mut pass, states.get(&m.src), modes, &skipped_here).await?;
        outcome.folders += 1;
        outcome.source_items += u64::from(scan.messages);
        work.push(FolderWork {
            mapping: m,
            scan,
            removals_held: false,
        });
    }

    // The brake: every removal of the pass, messages and whole folders, at once.
    let removals: Vec<FolderRemovals> = work
        .iter()
        .filter(|w| !w.scan.plan.removals.is_empty())
        .map(|w| FolderRemovals {
            folder: MailboxName::from_wire(w.mapping.src.clone()).to_display(),
            messages: w.scan.plan.removals.len() as u64,
            whole_folder: false,
        })
        .chain(gone.iter().map(|g| FolderRemovals {
            folder: MailboxName::from_wire(g.src_name.clone()).to_display(),
            messages: g.migrated,
            whole_folder: true,
        }))
        .collect();
    let (migrated, _) = store.copied_totals(email).await?;
    outcome.held_removals = proof::brake(
        &removals,
        migrated,
        job.removal_brake,
        job.removals_approved,
    );
    if let Some(held) = &outcome.held_removals {
        warn!(user = email, held = held.messages, detail = %held, "removals held for the admin's approval");
        for w in work.iter_mut().filter(|w| !w.scan.plan.removals.is_empty()) {
            w.scan.plan.removals.clear();
            w.removals_held = true;
        }
    } else {
        lifecycle::delete_gone(
            &mut dst,
            store,
            email,
            gone,
            &mut states,
            &mut folder_changes,
        )
        .await?;
        outcome.folders_deleted = folder_changes.deleted.len() as u64;
    }
    events.send(SyncEvent::UserPlanned {
        email: email.to_string(),
        folders: outcome.folders,
        messages: work.iter().map(|w| w.scan.plan.copies.len() as u64).sum(),
        bytes: work
            .iter()
            .flat_map(|w| &w.scan.plan.copies)
            .map(|c| u64::from(c.size))
            .sum(),
    });

    copy::copy_mailbox(&mut src, &mut dst, &work, job, store, events, &mut outcome).await?;

    // A failed LOGOUT after a complete pass changes nothing that matters.
    let _ = src.logout().await;
    let _ = dst.logout().await;
    outcome.millis = started.elapsed().as_millis() as u64;
    info!(
        user = email,
        folders = outcome.folders,
        copied = outcome.copied,
        bytes = outcome.bytes,
        skipped = outcome.skipped,
        flags_changed = outcome.flags_changed,
        removed = outcome.removed,
        millis = outcome.millis,
        "mailbox pass finished"
    );
    Ok(outcome)
}
