//! One pass over one mailbox: list both sides, plan, then copy folder by folder with
//! the source fetching while the target appends.
//!
//! Every copied message is recorded in the store (source folder, UIDVALIDITY, UID ->
//! target UID) in the same transaction for a whole appended chunk, so a later pass
//! never copies it again.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use cutover_imap::{AppendMessage, ImapError, MailboxName, MessageBody, Session, Spool};
use cutover_model::SkippedKind;
use cutover_store::{CopiedMessage, FolderState, Intent, SkippedItem, Store, StoreError};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::apply;
use crate::budget::{MemoryBudget, MemoryPermit};
use crate::credentials::Side;
use crate::events::{EventSink, SyncEvent};
use crate::folder_map::{
    self, FolderMapping, FolderRules, ListedFolder, MappedBy, Separators, SpecialUse,
};
use crate::lifecycle;
use crate::planner::{self, ChunkLimits, SourceMessage};
use crate::scan::{self, FolderScan, SourceModes};
use crate::subject::subject;
use crate::test_hooks::{self, PausePoint};

/// Messages per UID FETCH / APPEND, and bytes per chunk.
const CHUNK: ChunkLimits = ChunkLimits {
    max_messages: 50,
    max_bytes: 8 * 1024 * 1024,
};
/// Messages above this are fetched in pieces of this size into a temporary file, and
/// appended from it: memory holds a piece, not the message.
const PIECE: u32 = 1024 * 1024;
/// Chunks fetched ahead of the appender.
const AHEAD: usize = 2;
/// Bytes read from a spooled message to find its subject.
const HEAD_BYTES: usize = 64 * 1024;

/// Which server an error came from, for the admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Target,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Source => "source",
            Role::Target => "target",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot connect to the {role} server {addr}: {source}")]
    Connect {
        role: Role,
        addr: String,
        source: ImapError,
    },
    #[error("cannot log in to the {role} server {addr} as {identity}: {source}")]
    Login {
        role: Role,
        addr: String,
        identity: String,
        source: ImapError,
    },
    #[error("{role} server, folder '{folder}': {source}")]
    Folder {
        role: Role,
        folder: String,
        source: ImapError,
    },
    #[error("{role} server: {source}")]
    Imap { role: Role, source: ImapError },
    #[error("state database: {0}")]
    Store(#[from] StoreError),
}

impl SyncError {
    /// Whether trying the pass again later may help (dropped connection, timeout,
    /// server busy), as opposed to a wrong password or a missing mailbox.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Connect { source, .. }
            | SyncError::Folder { source, .. }
            | SyncError::Imap { source, .. } => source.is_transient(),
            SyncError::Login { source, .. } => {
                !matches!(source, ImapError::AuthenticationFailed { .. }) && source.is_transient()
            }
            SyncError::Store(_) => false,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassOutcome {
    pub folders: u64,
    pub source_items: u64,
    pub copied: u64,
    pub bytes: u64,
    pub skipped: u64,
    /// Messages whose flags changed on the target.
    pub flags_changed: u64,
    /// Messages removed from the target because they were expunged on the source.
    pub removed: u64,
    /// Folders renamed or deleted on the target after the source.
    pub folders_renamed: u64,
    pub folders_deleted: u64,
    pub millis: u64,
}

/// Everything a pass needs to know about one mailbox.
#[derive(Debug, Clone)]
pub struct MailboxJob {
    pub email: String,
    /// Message bytes in flight, shared by every mailbox of the run.
    pub memory: MemoryBudget,
    pub source: Side,
    pub target: Side,
    pub excluded_folders: Vec<String>,
    /// The batch's `--folder-map`.
    pub folder_map: Vec<cutover_model::FolderMapEntry>,
}

async fn open(side: &Side, role: Role) -> Result<Session, SyncError> {
    let addr = side.addr.to_string();
    let mut session = Session::connect(&side.addr, &side.tls)
        .await
        .map_err(|source| SyncError::Connect {
            role,
            addr: addr.clone(),
            source,
        })?;
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

/// The work found for one folder by the scan.
struct FolderWork {
    mapping: FolderMapping,
    scan: FolderScan,
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
    let seps = Separators {
        source: separator(&src_list),
        target: separator(&dst_list),
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
    let mappings = folder_map::plan_folders(
        &listed(&src_list, &src_subscribed),
        &listed(&dst_list, &dst_subscribed),
        seps,
        FolderRules {
            excluded: &job.excluded_folders,
            folder_map: &job.folder_map,
        },
    );
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

    let mut outcome = PassOutcome::default();
    // Renames and deletions first: a renamed folder must not be created anew.
    let folder_changes =
        lifecycle::follow(&mut src, &mut dst, store, email, &mappings, &mut states).await?;
    outcome.folders_renamed = folder_changes.renamed.len() as u64;
    outcome.folders_deleted = folder_changes.deleted.len() as u64;

    // Folders next, so the hierarchy exists even where no message goes.
    for m in &mappings {
        let dst_name = MailboxName::from_wire(m.dst.clone());
        if m.create && !states.contains_key(&m.src) {
            dst.create(&dst_name)
                .await
                .map_err(|source| SyncError::Folder {
                    role: Role::Target,
                    folder: dst_name.to_display(),
                    source,
                })?;
        }
        if m.subscribe && !dst_subscribed.contains(&m.dst) {
            dst.subscribe(&dst_name)
                .await
                .map_err(|source| SyncError::Folder {
                    role: Role::Target,
                    folder: dst_name.to_display(),
                    source,
                })?;
        }
    }

    // Scan: what changed in each source folder, and the plan for it.
    let skipped: Vec<SkippedItem> = store.skipped_items(email).await?;
    let mut work = Vec::new();
    for m in mappings.into_iter().filter(|m| m.selectable) {
        let skipped_here: Vec<u32> = skipped
            .iter()
            .filter(|i| i.src_name == m.src)
            .map(|i| i.src_uid)
            .collect();
        let scan = scan::scan_folder(
            &mut src,
            &mut dst,
            store,
            email,
            &m.src,
            &m.dst,
            states.get(&m.src),
            modes,
            &skipped_here,
        )
        .await?;
        outcome.folders += 1;
        outcome.source_items += u64::from(scan.messages);
        work.push(FolderWork { mapping: m, scan });
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

    for folder in &work {
        if folder.scan.unchanged {
            continue;
        }
        let applied = apply::apply_changes(
            &mut dst,
            store,
            email,
            &folder.mapping.src,
            folder.scan.uid_validity,
            &folder.mapping.dst,
            &folder.scan.plan,
        )
        .await?;
        outcome.flags_changed += applied.flags_changed;
        outcome.removed += applied.removed;
        copy_folder(&mut src, &mut dst, folder, job, store, events, &mut outcome).await?;
        store
            .save_folder_state(
                email,
                &FolderState {
                    src_name: folder.mapping.src.clone(),
                    src_uidvalidity: folder.scan.uid_validity,
                    dst_name: folder.mapping.dst.clone(),
                    uidnext: folder.scan.uid_next,
                    highest_modseq: folder.scan.highest_modseq,
                    messages: folder.scan.messages,
                },
            )
            .await?;
    }

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

/// A message body on its way from the source to the target.
enum Body {
    Memory(Vec<u8>),
    /// Large messages wait in a temporary file.
    Spooled(Spool),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Memory(b) => b.len() as u64,
            Body::Spooled(s) => s.len(),
        }
    }

    fn for_append(&self) -> MessageBody<'_> {
        match self {
            Body::Memory(b) => MessageBody::Bytes(b),
            Body::Spooled(s) => MessageBody::Spool(s),
        }
    }

    /// The first bytes (the header, for the subject of a skipped item).
    fn head(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Body::Memory(b) => std::borrow::Cow::Borrowed(&b[..b.len().min(HEAD_BYTES)]),
            Body::Spooled(s) => {
                let mut all = s.read_head(HEAD_BYTES).unwrap_or_default();
                all.truncate(HEAD_BYTES);
                std::borrow::Cow::Owned(all)
            }
        }
    }
}

/// A message on its way from the source to the target, or why the source could not
/// give it.
struct Fetched {
    uid: u32,
    body: Result<Body, ImapError>,
}

/// The bytes a chunk holds in memory while in flight, in KiB (the unit of the budget).
fn memory_cost(chunk: &[SourceMessage]) -> u32 {
    let bytes: u64 = chunk.iter().map(|m| u64::from(m.size.min(PIECE))).sum();
    bytes.div_ceil(1024).min(u64::from(u32::MAX)) as u32
}

/// Fetches a large message piece by piece into a temporary file.
async fn spool(src: &mut Session, uid: u32) -> Result<Body, ImapError> {
    let mut spool = Spool::new()?;
    loop {
        let piece = src.fetch_body_piece(uid, spool.len(), PIECE).await?;
        spool.append(&piece)?;
        if piece.len() < PIECE as usize {
            return Ok(Body::Spooled(spool));
        }
    }
}

async fn fetch_chunk(
    src: &mut Session,
    chunk: &[SourceMessage],
) -> Result<Vec<Fetched>, ImapError> {
    let (large, small): (Vec<&SourceMessage>, Vec<&SourceMessage>) =
        chunk.iter().partition(|m| m.size > PIECE);
    let mut out = Vec::with_capacity(chunk.len());
    if !small.is_empty() {
        let uids: Vec<u32> = small.iter().map(|m| m.uid).collect();
        out.extend(
            src.fetch_bodies(&uids)
                .await?
                .into_iter()
                .map(|(uid, body)| Fetched {
                    uid,
                    body: body.map(Body::Memory),
                }),
        );
    }
    for m in large {
        match spool(src, m.uid).await {
            Ok(body) => out.push(Fetched {
                uid: m.uid,
                body: Ok(body),
            }),
            // Expunged since the listing: nothing to copy.
            Err(ImapError::NotFound { .. }) => {}
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => out.push(Fetched {
                uid: m.uid,
                body: Err(e),
            }),
        }
    }
    Ok(out)
}

async fn copy_folder(
    src: &mut Session,
    dst: &mut Session,
    folder: &FolderWork,
    job: &MailboxJob,
    store: &dyn Store,
    events: &EventSink,
    outcome: &mut PassOutcome,
) -> Result<(), SyncError> {
    if folder.scan.plan.copies.is_empty() {
        return Ok(());
    }
    let src_name = MailboxName::from_wire(folder.mapping.src.clone());
    let dst_name = MailboxName::from_wire(folder.mapping.dst.clone());
    let src_folder_err = |source| SyncError::Folder {
        role: Role::Source,
        folder: src_name.to_display(),
        source,
    };
    let selected = src.examine(&src_name).await.map_err(src_folder_err)?;
    if selected.uid_validity != folder.scan.uid_validity {
        warn!(user = job.email, folder = %src_name, "UIDVALIDITY changed during the pass; the folder is left for the next pass");
        return Ok(());
    }
    // Where messages appended from now on will land: recorded with each intent, so
    // that recovery looks only at what arrived after it.
    let mut floor = dst
        .status(&dst_name)
        .await
        .map_err(|source| SyncError::Folder {
            role: Role::Target,
            folder: dst_name.to_display(),
            source,
        })?
        .uid_next
        .unwrap_or(1);
    let chunks = planner::chunk(&folder.scan.plan.copies, CHUNK);
    debug!(user = job.email, folder = %src_name, messages = folder.scan.plan.copies.len(), chunks = chunks.len(), "copying");

    let (tx, mut rx) = mpsc::channel::<(MemoryPermit, Vec<Fetched>)>(AHEAD);
    let fetcher = async {
        for chunk in &chunks {
            // Wait for room in the budget shared by every mailbox of the run.
            let permit = job.memory.reserve(memory_cost(chunk)).await;
            let fetched = fetch_chunk(src, chunk).await.map_err(src_folder_err)?;
            if tx.send((permit, fetched)).await.is_err() {
                break; // the appender stopped; its error is reported
            }
        }
        drop(tx);
        Ok::<(), SyncError>(())
    };
    let ctx = AppendContext {
        dst_name: &dst_name,
        folder,
        job,
        store,
        events,
    };
    let appender = async {
        let mut stats = PassOutcome::default();
        while let Some((permit, fetched)) = rx.recv().await {
            append_chunk(dst, &ctx, &fetched, &mut floor, &mut stats).await?;
            drop(permit);
        }
        Ok::<PassOutcome, SyncError>(stats)
    };
    let (fetched, appended) = tokio::join!(fetcher, appender);
    // The appender's error is the cause when both fail (the fetcher then saw a closed channel).
    let stats = appended?;
    fetched?;
    outcome.copied += stats.copied;
    outcome.bytes += stats.bytes;
    outcome.skipped += stats.skipped;
    Ok(())
}

async fn append_chunk(
    dst: &mut Session,
    ctx: &AppendContext<'_>,
    fetched: &[Fetched],
    floor: &mut u32,
    stats: &mut PassOutcome,
) -> Result<(), SyncError> {
    let AppendContext {
        dst_name,
        folder,
        job,
        store,
        events,
    } = *ctx;
    let dst_err = |source| SyncError::Folder {
        role: Role::Target,
        folder: dst_name.to_display(),
        source,
    };
    let no_flags: Vec<String> = Vec::new();
    let mut readable = Vec::with_capacity(fetched.len());
    for f in fetched {
        match &f.body {
            Ok(body) => readable.push((f.uid, body)),
            Err(e) => {
                let reason = format!("cannot read it from the source: {e}");
                skip(ctx, stats, f.uid, None, SkippedKind::BadItem, reason).await?
            }
        }
    }
    let messages: Vec<AppendMessage<'_>> = readable
        .iter()
        .map(|(uid, body)| {
            let meta = folder.scan.metas.get(uid);
            AppendMessage {
                flags: meta.map(|m| &m.flags).unwrap_or(&no_flags),
                internal_date: meta.map(|m| m.internal_date),
                body: body.for_append(),
            }
        })
        .collect();
    let intents: Vec<Intent> = readable
        .iter()
        .zip(&messages)
        .map(|((uid, body), m)| Intent {
            src_uidvalidity: folder.scan.uid_validity,
            src_uid: *uid,
            dst_name: folder.mapping.dst.clone(),
            dst_uid_floor: *floor,
            size: body.len() as u32,
            internal_date: m.internal_date.map(|d| d.timestamp()).unwrap_or(0),
        })
        .collect();
    store
        .record_intents(&job.email, &folder.mapping.src, &intents)
        .await?;
    test_hooks::reached(PausePoint::AfterIntents);
    let results = append_all(dst, dst_name, &messages).await;
    test_hooks::reached(PausePoint::AfterAppend);
    if let Some(max) = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().and_then(|(_, uid)| *uid))
        .max()
    {
        *floor = (*floor).max(max.saturating_add(1));
    }

    let mut copies = Vec::new();
    let mut failure = None;
    for (i, result) in results {
        match result {
            Ok((dst_uidvalidity, dst_uid)) => {
                let (uid, body) = readable[i];
                copies.push(CopiedMessage {
                    src_uid: uid,
                    dst_uidvalidity,
                    dst_uid,
                    size: body.len() as u32,
                    flags: messages[i].flags.to_vec(),
                });
            }
            Err(e @ ImapError::No { .. }) => {
                // Refused, so not on the target: its intent goes.
                store
                    .drop_intents(
                        &job.email,
                        &folder.mapping.src,
                        folder.scan.uid_validity,
                        &[readable[i].0],
                    )
                    .await?;
                let kind = match &e {
                    ImapError::No { code, text, .. } => {
                        SkippedKind::of_refusal(code.as_deref(), text)
                    }
                    _ => SkippedKind::BadItem,
                };
                let (uid, body) = readable[i];
                let reason = format!("the target refused it: {e}");
                skip(ctx, stats, uid, Some(&body.head()), kind, reason).await?;
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    // What did make it is recorded, also before a failure ends the pass.
    if !copies.is_empty() {
        store
            .record_copies(
                &job.email,
                &folder.mapping.src,
                folder.scan.uid_validity,
                &copies,
            )
            .await?;
        test_hooks::reached(PausePoint::AfterRecord);
        let bytes: u64 = copies.iter().map(|c| u64::from(c.size)).sum();
        stats.copied += copies.len() as u64;
        stats.bytes += bytes;
        events.send(SyncEvent::Copied {
            email: job.email.clone(),
            messages: copies.len() as u64,
            bytes,
        });
    }
    match failure {
        Some(e) => Err(dst_err(e)),
        None => Ok(()),
    }
}

/// Records a message the pass could not copy (a bad or large item); it is tried again
/// next pass. `body` is the message when the source gave it, for its subject.
async fn skip(
    ctx: &AppendContext<'_>,
    stats: &mut PassOutcome,
    uid: u32,
    body: Option<&[u8]>,
    kind: SkippedKind,
    reason: String,
) -> Result<(), SyncError> {
    let folder = MailboxName::from_wire(ctx.folder.mapping.src.clone()).to_display();
    warn!(user = ctx.job.email, folder, uid, %kind, reason, "message skipped");
    let size = ctx
        .folder
        .scan
        .metas
        .get(&uid)
        .map(|m| m.size)
        .or_else(|| body.map(|b| b.len() as u32))
        .unwrap_or(0);
    ctx.store
        .record_skipped(
            &ctx.job.email,
            &SkippedItem {
                src_name: ctx.folder.mapping.src.clone(),
                folder: folder.clone(),
                src_uidvalidity: ctx.folder.scan.uid_validity,
                src_uid: uid,
                size,
                kind,
                subject: body.map(subject).unwrap_or_default(),
                reason: reason.clone(),
                skipped_at: chrono::Utc::now(),
                approved_at: None,
            },
        )
        .await?;
    stats.skipped += 1;
    ctx.events.send(SyncEvent::Skipped {
        email: ctx.job.email.clone(),
        folder,
        uid,
        reason,
    });
    Ok(())
}

/// What appending a chunk needs besides the chunk.
struct AppendContext<'a> {
    dst_name: &'a MailboxName,
    folder: &'a FolderWork,
    job: &'a MailboxJob,
    store: &'a dyn Store,
    events: &'a EventSink,
}

type AppendOutcome = Result<(Option<u32>, Option<u32>), ImapError>;

/// Appends `messages` in order and says, per message index, whether it landed (with
/// the target UIDVALIDITY and UID when the server gave them). Stops at the first error
/// that is not a refusal of one message (NO): later messages are then not tried.
async fn append_all(
    dst: &mut Session,
    dst_name: &MailboxName,
    messages: &[AppendMessage<'_>],
) -> Vec<(usize, AppendOutcome)> {
    let mut results = Vec::with_capacity(messages.len());
    let mut start = 0;
    while start < messages.len() {
        match dst.append(dst_name, &messages[start..]).await {
            Ok(r) => {
                for i in start..messages.len() {
                    let uid = r.uids.get(i - start).copied().flatten();
                    results.push((i, Ok((r.uid_validity, uid))));
                }
                break;
            }
            // One APPEND per message: those before the failure are in.
            Err(ImapError::PartialAppend {
                appended,
                uid_validity,
                uids,
                source,
            }) => {
                for i in 0..appended {
                    results.push((
                        start + i,
                        Ok((uid_validity, uids.get(i).copied().flatten())),
                    ));
                }
                let failed = start + appended;
                let refused = matches!(*source, ImapError::No { .. });
                results.push((failed, Err(*source)));
                if !refused {
                    break;
                }
                start = failed + 1;
            }
            // One refused message refuses a whole MULTIAPPEND: find it by going one by one.
            Err(e @ ImapError::No { .. }) if messages.len() - start > 1 => {
                debug!(error = %e, "chunk refused; appending its messages one by one");
                for (i, m) in messages.iter().enumerate().skip(start) {
                    let r = dst
                        .append(dst_name, std::slice::from_ref(m))
                        .await
                        .map(|r| (r.uid_validity, r.uids.first().copied().flatten()));
                    let stop = matches!(&r, Err(e) if !matches!(e, ImapError::No { .. }));
                    results.push((i, r));
                    if stop {
                        break;
                    }
                }
                break;
            }
            Err(e) => {
                results.push((start, Err(e)));
                break;
            }
        }
    }
    results
}
