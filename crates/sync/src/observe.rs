//! Looking at one mailbox before a pass acts on it: both servers' folders and
//! namespaces, the target's case rule, the folders renamed and gone on the source, and
//! each source folder ([`crate::scan`]). Reads only (the probe of the target's case rule,
//! a folder created and deleted at once, is the one exception, and only for a pass):
//! what it finds is a [`MailboxFacts`], which [`crate::plan`] turns into steps.

use std::collections::{BTreeSet, HashMap};

use cutover_imap::{ImapError, ListedStatuses, MailboxName, Session};
use cutover_store::{FolderState, SkippedItem, Store};
use tracing::{debug, info, warn};

use crate::facts::MailboxFacts;
use crate::folder_map::{
    self, FolderMapping, FolderRules, ListedFolder, MappedBy, Separators, SpecialUse,
};
use crate::lifecycle;
use crate::listing;
use crate::namespace::{self, SideNamespace};
use crate::pass::{FolderPass, MailboxJob, Role, SourceModes, SyncError};
use crate::scan;

fn separator(listed: &[cutover_imap::ListedMailbox]) -> Option<char> {
    listed.iter().find_map(|m| m.delimiter)
}

/// Whether the target compares folder names without regard to case: the admin's setting
/// or what an earlier pass found, else a probe of the server, remembered for the target.
/// Two listed folders that differ only in case prove it does not; else the server is
/// asked for an existing folder with its case swapped (or for a probe folder it creates
/// and deletes, in a mailbox with no folder to ask about).
///
/// Returns the rule and, when it was found rather than set, the rule again for the store
/// to remember. Only a pass (`may_create`) creates the probe folder; `batch plan` then
/// takes names as case-sensitive, IMAP's own rule. A target is asked once per process:
/// passes starting together wait for the first one's answer.
async fn target_folds_case(
    dst: &mut Session,
    listed: &[cutover_imap::ListedMailbox],
    ns: &SideNamespace,
    job: &MailboxJob,
    may_create: bool,
) -> Result<(bool, Option<bool>), SyncError> {
    if let Some(known) = job.target_folds_case {
        return Ok((known, None));
    }
    // Passes that start together (a batch's first wave) ask once: the others wait for
    // the first one's answer instead of each creating and deleting a probe folder.
    let server = (job.target.addr.host.clone(), job.target.addr.port);
    let mut found = case_rules().lock().await;
    if let Some(&folds) = found.get(&server) {
        return Ok((folds, Some(folds)));
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
    } else if !may_create {
        return Ok((false, None));
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
                return Ok((false, None));
            }
            Err(e) => return Err(err(e)),
        }
    };
    found.insert(server, folds);
    info!(
        folds_case = folds,
        "the target's folder names compare {}",
        if folds {
            "without regard to case"
        } else {
            "case-sensitively"
        }
    );
    Ok((folds, Some(folds)))
}

/// The case rule each target server (host, port) was found to have by a pass of this
/// process, behind one lock that a pass holds while it asks.
type CaseRules = tokio::sync::Mutex<HashMap<(String, u16), bool>>;

fn case_rules() -> &'static CaseRules {
    static FOUND: std::sync::OnceLock<CaseRules> = std::sync::OnceLock::new();
    FOUND.get_or_init(CaseRules::default)
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

/// A server's folders (with special-use attributes), its subscriptions, its personal
/// namespace, and what it enabled.
pub(crate) struct SideFolders {
    pub(crate) listed: Vec<cutover_imap::ListedMailbox>,
    pub(crate) subscribed: BTreeSet<Vec<u8>>,
    pub(crate) namespace: SideNamespace,
    enabled: Vec<String>,
    /// The source's folders' STATUS, where its LIST could carry them (LIST-STATUS); for
    /// [`Session::statuses_after_listing`].
    pub(crate) statuses: ListedStatuses,
}

/// A server's [`SideFolders`], asked for in one round trip, with ENABLE of `enable` (none:
/// no ENABLE) first in the same one. On the source, the folders' STATUS comes with the
/// listing where the server can send it: the scan, the glance and the sizing all want
/// it, and then ask for none.
pub(crate) async fn read_folders(
    session: &mut Session,
    role: Role,
    enable: &[&str],
) -> Result<SideFolders, SyncError> {
    let (folders, enabled) = session
        .enable_and_list(enable, role == Role::Source)
        .await
        .map_err(|source| SyncError::Imap { role, source })?;
    let names: Vec<&[u8]> = folders.listed.iter().map(|m| m.name.as_bytes()).collect();
    let side = SideNamespace::new(
        folders.namespaces.as_ref(),
        &names,
        separator(&folders.listed),
    );
    debug!(%role, prefix = %String::from_utf8_lossy(&side.personal), separator = ?side.separator,
        source = ?side.source, "personal namespace");
    let subscribed = folders
        .subscribed
        .into_iter()
        .map(|m| m.name.as_bytes().to_vec())
        .collect();
    Ok(SideFolders {
        listed: folders.listed,
        subscribed,
        namespace: side,
        enabled,
        statuses: folders.statuses,
    })
}

/// The change tracking to ask the source for: QRESYNC (which includes CONDSTORE) when
/// it has it, else CONDSTORE.
fn change_tracking(caps: &cutover_imap::Capabilities) -> &'static [&'static str] {
    if caps.has("QRESYNC") {
        &["QRESYNC"]
    } else if caps.has("CONDSTORE") {
        &["CONDSTORE"]
    } else {
        &[]
    }
}

/// What the source lets a pass use, once `enabled` was enabled.
fn source_modes(caps: &cutover_imap::Capabilities, enabled: &[String]) -> SourceModes {
    let qresync = enabled.iter().any(|e| e == "QRESYNC");
    SourceModes {
        condstore: qresync || caps.has("CONDSTORE"),
        qresync,
        object_ids: caps.has("OBJECTID"),
    }
}

/// Both servers' folders, and where each source folder goes on the target.
pub(crate) struct FolderLayout {
    /// Wire names on both sides, both namespaces applied.
    pub(crate) mappings: Vec<FolderMapping>,
    /// Source folders of other users' or shared namespaces (display names).
    pub(crate) folders_left_out: Vec<String>,
    /// The target's case rule, when this call's probe found it.
    pub(crate) learned_folds_case: Option<bool>,
    pub(crate) target_listed: Vec<cutover_imap::ListedMailbox>,
    pub(crate) target_subscribed: BTreeSet<Vec<u8>>,
    pub(crate) target_separator: Option<char>,
    /// The source's listing and the batch's folder rules, digested ([`crate::listing`]).
    pub(crate) source_listing: String,
    /// What the source enabled of what [`map_folders`] was asked to enable.
    pub(crate) source_enabled: Vec<String>,
    /// The source folders' STATUS its listing carried (LIST-STATUS).
    pub(crate) source_statuses: ListedStatuses,
}

/// Lists both servers and maps the source's folders onto the target's. Reads only, but
/// for the case probe when `for_pass` (see [`target_folds_case`]).
pub(crate) async fn map_folders(
    src: &mut Session,
    dst: &mut Session,
    job: &MailboxJob,
    for_pass: bool,
    src_enable: &[&str],
) -> Result<FolderLayout, SyncError> {
    let email = job.email.as_str();
    // With special-use attributes, so Sent goes to Sent whatever each side calls it.
    // Names relative to each side's personal namespace: Cyrus's `INBOX.Sent` is
    // Dovecot's `Sent`. Other users' and shared folders are not this mailbox's mail.
    // Both sides at once: a distant one costs a round trip, not two.
    let (src_side, dst_side) = tokio::join!(
        read_folders(src, Role::Source, src_enable),
        read_folders(dst, Role::Target, &[])
    );
    let SideFolders {
        listed: src_list,
        subscribed: src_subscribed,
        namespace: src_ns,
        enabled: source_enabled,
        statuses: source_statuses,
    } = src_side?;
    let SideFolders {
        listed: dst_list,
        subscribed: dst_subscribed,
        namespace: dst_ns,
        ..
    } = dst_side?;
    let source_listing = listing::listing_digest(
        &src_list,
        &src_subscribed,
        &job.excluded_folders,
        &job.folder_map,
    );
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
    let folders_left_out: Vec<String> = src_rel
        .foreign
        .iter()
        .map(|n| MailboxName::from_wire(n.clone()).to_display())
        .collect();
    if !folders_left_out.is_empty() {
        info!(user = email, folders = ?folders_left_out,
            "folders of other users' or shared namespaces are left out");
    }
    let (folds_case, learned_folds_case) =
        target_folds_case(dst, &dst_list, &dst_ns, job, for_pass).await?;
    let mut mappings = folder_map::plan_folders(
        &src_rel.folders,
        &dst_rel.folders,
        seps,
        FolderRules {
            excluded: &job.excluded_folders,
            folder_map: &job.folder_map,
            target_folds_case: folds_case,
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

    Ok(FolderLayout {
        mappings,
        folders_left_out,
        learned_folds_case,
        target_listed: dst_list,
        target_subscribed: dst_subscribed,
        target_separator: dst_ns.separator,
        source_listing,
        source_enabled,
        source_statuses,
    })
}

/// Folders no pass has seen yet (no state) are listed whole: their EXAMINE and metadata
/// FETCH go [`PRELIST`] folders to a round trip instead of two round trips each, which on
/// a distant source is most of a new mailbox's set-up. A folder whose listing failed is
/// left out: its scan opens it again and reports what the server says.
const PRELIST: usize = 64;

async fn list_new_folders(
    src: &mut Session,
    mappings: &[FolderMapping],
    states: &HashMap<Vec<u8>, FolderState>,
) -> Result<HashMap<Vec<u8>, scan::Listed>, SyncError> {
    let fresh: Vec<&[u8]> = mappings
        .iter()
        .filter(|m| m.selectable && !states.contains_key(&m.src))
        .map(|m| m.src.as_slice())
        .collect();
    let mut out = HashMap::new();
    if fresh.len() < 2 {
        return Ok(out);
    }
    for group in fresh.chunks(PRELIST) {
        let names: Vec<MailboxName> = group
            .iter()
            .map(|n| MailboxName::from_wire(n.to_vec()))
            .collect();
        let listed = src
            .examine_and_list(&names)
            .await
            .map_err(|source| SyncError::Imap {
                role: Role::Source,
                source,
            })?;
        for (name, result) in group.iter().zip(listed) {
            match result {
                Ok(l) => {
                    out.insert(name.to_vec(), l);
                }
                Err(e) => debug!(folder = %MailboxName::from_wire(name.to_vec()), error = %e,
                    "listing with the others failed; the folder is looked at alone"),
            }
        }
    }
    Ok(out)
}

/// The STATUS of every folder an earlier pass saw, from the listing (LIST-STATUS) or in
/// one pipelined round trip: what the scan compares with the folder's state to find it
/// unchanged (only with CONDSTORE, the one case it trusts) instead of a round trip per
/// folder. A folder whose STATUS failed is left out: its scan asks again and reports
/// what the server says.
async fn status_known_folders(
    src: &mut Session,
    mappings: &[FolderMapping],
    states: &HashMap<Vec<u8>, FolderState>,
    modes: SourceModes,
    listed: &ListedStatuses,
) -> Result<HashMap<Vec<u8>, cutover_imap::MailboxStatus>, SyncError> {
    let known: Vec<&[u8]> = mappings
        .iter()
        .filter(|m| m.selectable && states.contains_key(&m.src))
        .map(|m| m.src.as_slice())
        .collect();
    let mut out = HashMap::new();
    // One folder's STATUS would cost the round trip its scan's EXAMINE costs anyway,
    // unless the listing brought it.
    if !modes.condstore || (known.len() < 2 && listed.is_empty()) {
        return Ok(out);
    }
    let names: Vec<MailboxName> = known
        .iter()
        .map(|n| MailboxName::from_wire(n.to_vec()))
        .collect();
    let answers = src
        .statuses_after_listing(&names, listed)
        .await
        .map_err(|source| SyncError::Imap {
            role: Role::Source,
            source,
        })?;
    for (name, answer) in known.iter().zip(answers) {
        if let Ok(status) = answer {
            out.insert(name.to_vec(), status);
        }
    }
    Ok(out)
}

/// Looks at one mailbox on both servers. `for_pass`: a pass follows (it may probe the
/// target's case rule); else only a plan is wanted.
pub(crate) async fn observe_mailbox(
    src: &mut Session,
    dst: &mut Session,
    job: &MailboxJob,
    store: &dyn Store,
    for_pass: bool,
) -> Result<MailboxFacts, SyncError> {
    let email = job.email.as_str();
    let caps = src.capabilities().clone();
    let mut states: HashMap<Vec<u8>, FolderState> = store
        .folder_states(email)
        .await?
        .into_iter()
        .map(|s| (s.src_name.clone(), s))
        .collect();
    let FolderLayout {
        mappings,
        folders_left_out,
        learned_folds_case,
        target_listed: dst_list,
        target_subscribed: dst_subscribed,
        target_separator,
        source_listing,
        source_enabled,
        source_statuses,
    } = map_folders(src, dst, job, for_pass, change_tracking(&caps)).await?;
    let modes = source_modes(&caps, &source_enabled);

    // Renamed and gone folders; the renamed ones' states follow them here, their records
    // in the store when the plan is applied.
    let lifecycle::FolderChanges {
        mut renames,
        gone,
        records,
        target_now,
    } = lifecycle::observe(
        src,
        dst,
        store,
        email,
        &mappings,
        &mut states,
        target_separator,
    )
    .await?;

    for r in renames.iter_mut().filter(|r| r.rename_on_target) {
        r.unsubscribe = target_now
            .get(&r.src_to)
            .filter(|now| dst_subscribed.contains(*now))
            .cloned();
    }

    // Each selectable source folder; those no pass has seen yet opened and listed all
    // at once.
    let skipped: Vec<SkippedItem> = store.skipped_items(email).await?;
    let mut prelisted = list_new_folders(src, &mappings, &states).await?;
    let mut statuses =
        status_known_folders(src, &mappings, &states, modes, &source_statuses).await?;
    let mut folders = Vec::new();
    for m in mappings.iter().filter(|m| m.selectable) {
        if let Some(reason) = job.stop.reason() {
            return Err(SyncError::Stopped(reason));
        }
        let records = records.get(&m.src).map_or(m.src.as_slice(), Vec::as_slice);
        let skipped_here: Vec<u32> = skipped
            .iter()
            .filter(|i| i.src_name == records)
            .map(|i| i.src_uid)
            .collect();
        let mut pass = FolderPass {
            src: &mut *src,
            dst: &mut *dst,
            store,
            email,
            src_folder: &m.src,
            dst_folder: &m.dst,
            dst_now: target_now
                .get(&m.src)
                .map_or(m.dst.as_slice(), Vec::as_slice),
            records,
        };
        let ahead = scan::Ahead {
            listed: prelisted.remove(&m.src),
            status: statuses.remove(&m.src),
        };
        folders.push(
            scan::scan_folder(&mut pass, states.get(&m.src), modes, &skipped_here, ahead).await?,
        );
    }
    let (migrated, _) = store.copied_totals(email).await?;
    let selectable_on_target: BTreeSet<&[u8]> = dst_list
        .iter()
        .filter(|m| m.is_selectable())
        .map(|m| m.name.as_bytes())
        .collect();
    let parents_made_selectable = mappings
        .iter()
        .filter(|m| !m.selectable && selectable_on_target.contains(m.dst.as_slice()))
        .map(|m| m.src.clone())
        .collect();
    Ok(MailboxFacts {
        parents_made_selectable,
        known_folders: states.into_keys().collect(),
        subscriptions_seen: store.subscriptions_seen(email).await?.into_iter().collect(),
        target_subscribed: dst_subscribed,
        mappings,
        folders_left_out,
        renames,
        gone,
        folders,
        migrated,
        learned_folds_case,
        target_separator,
        source_listing,
    })
}
