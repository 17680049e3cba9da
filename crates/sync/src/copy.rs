//! Copying the messages a pass planned for a mailbox: the source fetches chunks, folder
//! after folder (large messages into spool files), while the target appends the previous
//! ones, each chunk written down as intents before its APPEND and recorded as copies
//! after it, in one transaction. The target side also applies each folder's flag changes
//! and removals and saves its state when all of it is in. Messages the target refuses
//! become skipped items.

use chrono::Utc;
use cutover_imap::{AppendMessage, ImapError, MailboxName, MessageBody, Session, Spool};
use cutover_model::SkippedKind;
use cutover_store::{CopiedMessage, Intent, SkippedItem, Store};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::budget::{MemoryBudget, MemoryPermit};
use crate::connect;
use crate::credentials::Side;
use crate::events::{EventSink, SyncEvent};
use crate::lanes::{self, FolderQueue};
use crate::link::{Finished, LinkMeter};
use crate::message_changes;
use crate::pass::{FolderWork, MailboxJob, PassOutcome, Role, SyncError};
use crate::planner::{self, ChunkLimits, FolderGroup, SourceMessage};
use crate::subject::subject;
use crate::test_hooks::{self, PausePoint};

/// Messages per UID FETCH / APPEND, and bytes per chunk.
const CHUNK: ChunkLimits = ChunkLimits {
    max_messages: 50,
    max_bytes: 8 * 1024 * 1024,
};
/// Messages above this are fetched whole into a temporary file as they arrive, and
/// appended from it: memory holds a read or a block of the file, not the message.
const PIECE: u32 = 1024 * 1024;
/// Chunks fetched ahead of the appender.
const AHEAD: usize = 2;
/// Bytes read from a spooled message to find its subject.
const HEAD_BYTES: usize = 64 * 1024;

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
/// Small messages are held whole; large ones go to temporary files, and cost a
/// [`PIECE`] for the reads and blocks on their way, whatever their number.
fn memory_cost(chunk: &[SourceMessage]) -> u32 {
    let (large, small): (Vec<&SourceMessage>, Vec<&SourceMessage>) =
        chunk.iter().partition(|m| m.size > PIECE);
    let small: u64 = small.iter().map(|m| u64::from(m.size)).sum();
    let large = if large.is_empty() {
        0
    } else {
        u64::from(PIECE)
    };
    (small + large).div_ceil(1024).min(u64::from(u32::MAX)) as u32
}

/// Fetches the large messages of a chunk whole, each into a temporary file as it
/// arrives, in one round trip ([`Session::fetch_spooled`]).
async fn spool_all(src: &mut Session, large: &[&SourceMessage]) -> Result<Vec<Fetched>, ImapError> {
    let asked: Vec<(u32, u64)> = large.iter().map(|m| (m.uid, u64::from(m.size))).collect();
    Ok(src
        .fetch_spooled(&asked)
        .await?
        .into_iter()
        .map(|(uid, body)| Fetched {
            uid,
            body: body.map(Body::Spooled),
        })
        .collect())
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
    if !large.is_empty() {
        out.extend(spool_all(src, &large).await?);
    }
    Ok(out)
}

/// What the fetcher hands the appender, in order.
enum Step {
    /// The fetcher moved on to this folder of the work.
    Folder(usize),
    /// Fetched messages of the current folder, the memory they hold, and how many
    /// messages of the chunk the source did not answer for.
    Chunk(MemoryPermit, Vec<Fetched>, u64),
    /// Everything the folder needed was fetched.
    FolderDone(usize),
}

/// Copies what the scan planned for every folder of a mailbox. On a distant source the
/// folders are shared out among more connections per side ([`lanes`]), each lane with
/// its own sessions and pipeline; the given sessions run the first lane. A lane whose
/// connections cannot be opened leaves its folders to the first lane. A lane's failure
/// ends that lane; the others finish, and the first failure is the pass's. `early`: the
/// other lanes' connections, when the pass started opening them before.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn copy_mailbox(
    src: &mut Session,
    dst: &mut Session,
    work: &[FolderWork],
    job: &MailboxJob,
    store: &dyn Store,
    events: &EventSink,
    outcome: &mut PassOutcome,
    early: Option<EarlyLanes>,
) -> Result<(), SyncError> {
    let before = outcome.bytes;
    // With `--compression auto`, a whole copy is a measurement of each side's link, in
    // the mode this copy ran in.
    let timing = [&job.source, &job.target].map(|side| side.compress.meter().map(|m| m.begin()));
    let result = copy_on_lanes(src, dst, work, job, store, events, outcome, early).await;
    if result.is_ok() {
        let bytes = outcome.bytes - before;
        let [source, target] = timing;
        for (copying, session, role) in
            [(source, &*src, Role::Source), (target, &*dst, Role::Target)]
        {
            if let Some(copying) = copying {
                let deflated = session.is_compressed();
                let meter = copying.meter();
                let finished = copying.finish(deflated, bytes);
                measured(meter, deflated, bytes, finished, &job.email, role);
            }
        }
    }
    result
}

/// Says what one copy measured, and when the choice for the side's next connections
/// changed.
fn measured(meter: &LinkMeter, deflated: bool, bytes: u64, f: Finished, user: &str, role: Role) {
    if bytes < crate::link::SAMPLE_BYTES {
        return;
    }
    let m = meter.snapshot();
    let mb_s = |r: Option<f64>| r.map(|r| (r / 1e5).round() / 10.0);
    let (plain, compressed) = (mb_s(m.plain.rate()), mb_s(m.deflated.rate()));
    debug!(user, side = %role, deflated, bytes, secs = f.took.as_secs_f64(),
        copies_at_once = f.sharing, plain_mb_s = plain, deflated_mb_s = compressed,
        "a link measured");
    if let Some(on) = f.changed {
        info!(user, side = %role, plain_mb_s = plain, deflated_mb_s = compressed,
            "--compression auto: the next connections {}",
            if on { "ask for COMPRESS=DEFLATE" } else { "stay uncompressed" });
    }
}

#[allow(clippy::too_many_arguments)]
async fn copy_on_lanes(
    src: &mut Session,
    dst: &mut Session,
    work: &[FolderWork],
    job: &MailboxJob,
    store: &dyn Store,
    events: &EventSink,
    outcome: &mut PassOutcome,
    early: Option<EarlyLanes>,
) -> Result<(), SyncError> {
    let bytes: Vec<u64> = work
        .iter()
        .map(|w| w.copies.iter().map(|c| u64::from(c.size)).sum())
        .collect();
    let rtt = src.round_trip();
    let plan = lanes::plan(rtt, &bytes, lanes::MAX_LANES);
    debug!(
        user = job.email,
        lanes = plan.lanes,
        rtt_us = rtt.map(|r| r.as_micros() as u64),
        "copy planned from the source's round trip"
    );
    let queue = FolderQueue::new(plan.order);
    // The other lanes' logins at once: on a distant link each costs a few round trips.
    // A lane that cannot log in leaves its share to the others.
    let mut opened = match early {
        Some(mut early) => (&mut early.0).await.unwrap_or_default(),
        None => Vec::new(),
    };
    // Folders refused since the early lanes were planned: fewer may be needed.
    while opened.len() > plan.lanes.saturating_sub(1) {
        if let Some(Ok((s, d))) = opened.pop() {
            connect::close(s);
            connect::close(d);
        }
    }
    let more = plan.lanes.saturating_sub(1 + opened.len());
    opened.extend(
        futures::future::join_all((0..more).map(|_| open_lane(&job.source, &job.target))).await,
    );
    let mut others: Vec<(Session, Session)> = Vec::new();
    for lane in opened {
        match lane {
            Ok(sessions) => others.push(sessions),
            Err(e) => info!(user = job.email, error = %e,
                "cannot open one more connection for this mailbox; the others copy its share"),
        }
    }
    if others.is_empty() {
        return copy_lane(src, dst, work, &queue, job, store, events, outcome).await;
    }
    info!(
        user = job.email,
        lanes = others.len() + 1,
        rtt_ms = rtt.map(|r| r.as_millis() as u64),
        "copying on several connections"
    );
    let mut outcomes = vec![PassOutcome::default(); others.len() + 1];
    let (head, tail) = outcomes.split_first_mut().expect("one outcome per lane");
    let mut running = vec![copy_lane(src, dst, work, &queue, job, store, events, head)];
    for ((s, d), out) in others.iter_mut().zip(tail.iter_mut()) {
        running.push(copy_lane(s, d, work, &queue, job, store, events, out));
    }
    let results = futures::future::join_all(running).await;
    for (s, d) in others {
        connect::close(s);
        connect::close(d);
    }
    for o in &outcomes {
        outcome.copied += o.copied;
        outcome.bytes += o.bytes;
        outcome.skipped += o.skipped;
        outcome.flags_changed += o.flags_changed;
        outcome.removed += o.removed;
    }
    results.into_iter().collect()
}

/// A lane's own connections to both sides.
async fn open_lane(source: &Side, target: &Side) -> Result<(Session, Session), SyncError> {
    let (src, dst) = tokio::join!(
        connect::open(source, Role::Source),
        connect::open(target, Role::Target)
    );
    Ok((src?, dst?))
}

/// The other lanes' connections, being opened while the pass still creates the target's
/// folders: on a distant link their logins cost round trips that need not wait.
/// Dropped unused, it stops opening them (and closes those it opened).
pub(crate) struct EarlyLanes(tokio::task::JoinHandle<Vec<Result<(Session, Session), SyncError>>>);

impl EarlyLanes {
    /// Starts opening the lanes beyond the first that copying `bytes` (per folder)
    /// will want, when it wants more than one.
    pub(crate) fn open(src: &Session, job: &MailboxJob, bytes: &[u64]) -> Option<EarlyLanes> {
        let plan = lanes::plan(src.round_trip(), bytes, lanes::MAX_LANES);
        if plan.lanes < 2 {
            return None;
        }
        let (source, target) = (job.source.clone(), job.target.clone());
        Some(EarlyLanes(tokio::spawn(async move {
            futures::future::join_all((1..plan.lanes).map(|_| open_lane(&source, &target))).await
        })))
    }
}

impl Drop for EarlyLanes {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Copies the folders one lane takes from `queue` as one pipeline across folders: while
/// the target appends the last chunks of one folder (and applies the next one's flag
/// changes and removals), the source already opens the next folder and fetches its first
/// chunks, so a distant link does not drain at every folder. A folder's state is saved
/// once all of it is appended; a stop or failure leaves the unfinished folder's state as
/// it was, for the next pass to continue, and the lane takes no more folders.
#[allow(clippy::too_many_arguments)]
async fn copy_lane(
    src: &mut Session,
    dst: &mut Session,
    work: &[FolderWork],
    queue: &FolderQueue,
    job: &MailboxJob,
    store: &dyn Store,
    events: &EventSink,
    outcome: &mut PassOutcome,
) -> Result<(), SyncError> {
    let (tx, rx) = mpsc::channel::<Step>(AHEAD);
    let fetcher = async {
        while let Some(i) = queue.take() {
            let folder = &work[i];
            if let Some(reason) = job.stop.reason() {
                return Err(SyncError::Stopped(reason));
            }
            // Small folders after it go with it, in one round trip of the source.
            let mut group = FolderGroup::default();
            let mut together = vec![i];
            if group.join(&folder.copies, CHUNK, PIECE) {
                while let Some(next) = queue.take_if(|j| group.fits(&work[j].copies, CHUNK, PIECE))
                {
                    group.add(&work[next].copies);
                    together.push(next);
                }
            }
            let going_on = if together.len() > 1 {
                fetch_folders_at_once(src, work, &together, job, &tx).await?
            } else {
                tx.send(Step::Folder(i)).await.is_ok()
                    && fetch_folder(src, folder, job, &tx).await?
                    && tx.send(Step::FolderDone(i)).await.is_ok()
            };
            if !going_on {
                break; // the appender stopped; its error is reported
            }
        }
        drop(tx);
        Ok::<(), SyncError>(())
    };
    let appender = async {
        // Owned by the appender: when it ends, for whatever reason, the channel closes
        // and the fetcher stops instead of waiting for room forever.
        let mut rx = rx;
        let mut stats = PassOutcome::default();
        // The folder being appended to, and where its next message will land.
        let mut current: Option<(usize, MailboxName, u32)> = None;
        // Messages of the current folder that were neither copied nor skipped.
        let mut unanswered = 0u64;
        while let Some(step) = rx.recv().await {
            match step {
                Step::Folder(i) => {
                    let folder = &work[i];
                    let applied =
                        message_changes::apply_changes(dst, store, &job.email, folder).await?;
                    stats.flags_changed += applied.flags_changed;
                    stats.removed += applied.removed;
                    let dst_name = MailboxName::from_wire(folder.dst.clone());
                    let floor = if folder.copies.is_empty() {
                        1
                    } else {
                        // Where messages appended from now on will land: recorded with
                        // each intent, so that recovery looks only at what came after.
                        dst.status(&dst_name)
                            .await
                            .map_err(|source| SyncError::Folder {
                                role: Role::Target,
                                folder: dst_name.to_display(),
                                source,
                            })?
                            .uid_next
                            .unwrap_or(1)
                    };
                    current = Some((i, dst_name, floor));
                }
                Step::Chunk(permit, fetched, missing) => {
                    unanswered += missing;
                    let Some((i, dst_name, floor)) = current.as_mut() else {
                        unreachable!("the fetcher names the folder before its chunks");
                    };
                    let ctx = AppendContext {
                        dst_name,
                        folder: &work[*i],
                        job,
                        store,
                        events,
                    };
                    append_chunk(dst, &ctx, &fetched, floor, &mut stats).await?;
                    drop(permit);
                }
                Step::FolderDone(i) => {
                    let folder = &work[i];
                    // The checkpoint moves on only when the pass accounted for every
                    // message; otherwise the next pass lists the folder whole (no
                    // HIGHESTMODSEQ to take a delta from).
                    if let Some((state, settled)) = &folder.checkpoint {
                        let mut state = state.clone();
                        if !settled || unanswered > 0 {
                            state.highest_modseq = None;
                        }
                        store.save_folder_state(&job.email, &state).await?;
                    }
                    unanswered = 0;
                    // A checkpoint per folder per pass is bookkeeping: at debug.
                    for (step, bookkeeping) in &folder.steps {
                        if *bookkeeping {
                            debug!(user = job.email, %step, "step applied");
                        } else {
                            info!(user = job.email, %step, "step applied");
                        }
                    }
                    current = None;
                }
            }
        }
        Ok::<PassOutcome, SyncError>(stats)
    };
    let started = std::time::Instant::now();
    let (fetched, appended) = tokio::join!(fetcher, appender);
    // The appender's error is the cause when both fail (the fetcher then saw a closed
    // channel). A stop ends the fetcher after the appender recorded the chunks in flight.
    let stats = appended?;
    debug!(
        user = job.email,
        folders = work.len(),
        copied = stats.copied,
        bytes = stats.bytes,
        millis = started.elapsed().as_millis() as u64,
        "copy lane done"
    );
    outcome.copied += stats.copied;
    outcome.bytes += stats.bytes;
    outcome.skipped += stats.skipped;
    outcome.flags_changed += stats.flags_changed;
    outcome.removed += stats.removed;
    fetched
}

/// Fetches the planned copies of folders that fit one chunk together
/// ([`FolderGroup`]) in one round trip, and hands them to the appender folder by folder
/// as [`fetch_folder`] would. False when the appender is gone.
async fn fetch_folders_at_once(
    src: &mut Session,
    work: &[FolderWork],
    together: &[usize],
    job: &MailboxJob,
    tx: &mpsc::Sender<Step>,
) -> Result<bool, SyncError> {
    let asking: Vec<usize> = together
        .iter()
        .copied()
        .filter(|&i| !work[i].copies.is_empty())
        .collect();
    // One reservation for the group (separate ones, each waiting for room while holding
    // the others, could wait forever on a small budget), given back with its last folder.
    let cost = asking
        .iter()
        .map(|&i| memory_cost(&work[i].copies))
        .fold(0u32, u32::saturating_add);
    let mut permits: Vec<MemoryPermit> =
        (1..asking.len()).map(|_| MemoryBudget::nothing()).collect();
    if !asking.is_empty() {
        permits.push(job.memory.reserve(cost).await);
    }
    let asked: Vec<(MailboxName, Vec<u32>)> = asking
        .iter()
        .map(|&i| {
            let folder = &work[i];
            let uids = folder.copies.iter().map(|m| m.uid).collect();
            (MailboxName::from_wire(folder.src.clone()), uids)
        })
        .collect();
    debug!(
        user = job.email,
        folders = asked.len(),
        "copying small folders at once"
    );
    let answers = match asked.first() {
        None => Vec::new(),
        Some((first, _)) => {
            src.examine_and_fetch(&asked)
                .await
                .map_err(|source| SyncError::Folder {
                    role: Role::Source,
                    folder: first.to_display(),
                    source,
                })?
        }
    };
    let mut answers = asking.iter().copied().zip(answers.into_iter().zip(permits));
    let mut answer = answers.next();
    for &i in together {
        let folder = &work[i];
        if tx.send(Step::Folder(i)).await.is_err() {
            return Ok(false);
        }
        if let Some((_, (result, permit))) = answer.take_if(|(at, _)| *at == i) {
            answer = answers.next();
            // A stop still lands between folders; what was fetched and not handed on is
            // copied next pass.
            if let Some(reason) = job.stop.reason() {
                return Err(SyncError::Stopped(reason));
            }
            test_hooks::chunk_delay().await;
            let src_name = MailboxName::from_wire(folder.src.clone());
            let (selected, bodies) = result.map_err(|source| SyncError::Folder {
                role: Role::Source,
                folder: src_name.to_display(),
                source,
            })?;
            if selected.uid_validity != folder.uid_validity {
                warn!(user = job.email, folder = %src_name, "UIDVALIDITY changed during the pass; the folder is left for the next pass");
            } else {
                let fetched: Vec<Fetched> = bodies
                    .into_iter()
                    .map(|(uid, body)| Fetched {
                        uid,
                        body: body.map(Body::Memory),
                    })
                    .collect();
                let asked = folder.copies.len();
                if !hand_on(tx, job, &src_name, asked, permit, fetched).await {
                    return Ok(false);
                }
            }
        }
        if tx.send(Step::FolderDone(i)).await.is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Fetches the planned copies of one folder chunk by chunk into `tx`. False when the
/// appender is gone.
async fn fetch_folder(
    src: &mut Session,
    folder: &FolderWork,
    job: &MailboxJob,
    tx: &mpsc::Sender<Step>,
) -> Result<bool, SyncError> {
    if folder.copies.is_empty() {
        return Ok(true);
    }
    let src_name = MailboxName::from_wire(folder.src.clone());
    let src_folder_err = |source| SyncError::Folder {
        role: Role::Source,
        folder: src_name.to_display(),
        source,
    };
    let selected = src.examine(&src_name).await.map_err(src_folder_err)?;
    if selected.uid_validity != folder.uid_validity {
        warn!(user = job.email, folder = %src_name, "UIDVALIDITY changed during the pass; the folder is left for the next pass");
        return Ok(true);
    }
    let chunks = planner::chunk(&folder.copies, CHUNK);
    debug!(user = job.email, folder = %src_name, messages = folder.copies.len(), chunks = chunks.len(), "copying");
    for chunk in &chunks {
        if let Some(reason) = job.stop.reason() {
            return Err(SyncError::Stopped(reason));
        }
        test_hooks::chunk_delay().await;
        // Wait for room in the budget shared by every mailbox of the run.
        let permit = job.memory.reserve(memory_cost(chunk)).await;
        let fetched = fetch_chunk(src, chunk).await.map_err(src_folder_err)?;
        if !hand_on(tx, job, &src_name, chunk.len(), permit, fetched).await {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Hands what was fetched of `asked` messages to the appender; false when it is gone. A
/// UID the source did not answer for may have been expunged, or its reply lost: it is
/// neither copied nor skipped, so the folder is listed again next pass.
async fn hand_on(
    tx: &mpsc::Sender<Step>,
    job: &MailboxJob,
    src_name: &MailboxName,
    asked: usize,
    permit: MemoryPermit,
    fetched: Vec<Fetched>,
) -> bool {
    let unanswered = asked.saturating_sub(fetched.len()) as u64;
    if unanswered > 0 {
        warn!(user = job.email, folder = %src_name, unanswered,
            "the source did not answer for some messages; they are looked for again next pass");
    }
    tx.send(Step::Chunk(permit, fetched, unanswered))
        .await
        .is_ok()
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
            let meta = folder.metas.get(uid);
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
            src_uidvalidity: folder.uid_validity,
            src_uid: *uid,
            dst_name: folder.dst.clone(),
            dst_uid_floor: *floor,
            size: body.len() as u32,
            internal_date: m.internal_date.map(|d| d.timestamp()).unwrap_or(0),
        })
        .collect();
    store
        .record_intents(&job.email, &folder.src, &intents)
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
                        &folder.src,
                        folder.uid_validity,
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
            .record_copies(&job.email, &folder.src, folder.uid_validity, &copies)
            .await?;
        test_hooks::reached(PausePoint::AfterRecord);
        let bytes: u64 = copies.iter().map(|c| u64::from(c.size)).sum();
        store
            .record_progress(&job.email, copies.len() as u64, bytes, Utc::now())
            .await?;
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
    let folder = MailboxName::from_wire(ctx.folder.src.clone()).to_display();
    warn!(user = ctx.job.email, folder, uid, %kind, reason, "message skipped");
    let size = ctx
        .folder
        .metas
        .get(&uid)
        .map(|m| m.size)
        .or_else(|| body.map(|b| b.len() as u32))
        .unwrap_or(0);
    ctx.store
        .record_skipped(
            &ctx.job.email,
            &SkippedItem {
                src_name: ctx.folder.src.clone(),
                folder: folder.clone(),
                src_uidvalidity: ctx.folder.uid_validity,
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
