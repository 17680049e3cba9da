//! The completeness audit of one mailbox: every folder listed whole on both servers and
//! set against the ledger ([`crate::completeness::account`]). Reads only; what the
//! admin shows the business ("nothing was lost") is built from it.

use cutover_imap::{ImapError, MailboxName, Session};
use cutover_store::Store;
use serde::Serialize;

use crate::completeness::{self, FolderAccount, FolderLedger, Listed, Record};
use crate::connect::open;
use crate::observe;
use crate::pass::{MailboxJob, Role, SyncError};
use crate::proof;

/// One folder of the audit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FolderAudit {
    /// The source folder (display form) and where it goes on the target.
    pub source_folder: String,
    pub target_folder: String,
    #[serde(flatten)]
    pub account: FolderAccount,
}

/// One mailbox's audit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MailboxAudit {
    pub user: String,
    pub folders: Vec<FolderAudit>,
    /// Source folders not migrated by design: other users' and shared namespaces.
    pub folders_left_out: Vec<String>,
    /// Source folders the batch excludes (`--exclude-folders`).
    pub folders_excluded: Vec<String>,
}

impl MailboxAudit {
    /// Messages nothing explains, over every folder.
    pub fn missing(&self) -> u64 {
        self.folders.iter().map(|f| f.account.missing()).sum()
    }
}

/// A folder's messages (UID, size), and its UIDVALIDITY; `None` when it does not exist.
async fn listing(
    session: &mut Session,
    role: Role,
    name: &[u8],
) -> Result<Option<(u32, Vec<Listed>)>, SyncError> {
    let name = MailboxName::from_wire(name.to_vec());
    let err = |source| SyncError::Folder {
        role,
        folder: name.to_display(),
        source,
    };
    let selected = match session.examine(&name).await {
        Ok(s) => s,
        Err(ImapError::No { .. }) if role == Role::Target => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let metas = if selected.exists == Some(0) {
        Vec::new()
    } else {
        session.fetch_meta("1:*").await.map_err(err)?
    };
    // A short listing would read as messages missing or removed: no account from it.
    let uids: std::collections::BTreeSet<u32> = metas.iter().map(|m| m.uid).collect();
    if !proof::listing_is_complete(selected.exists, &uids) {
        return Err(err(ImapError::Protocol(format!(
            "listed {} messages of the {} the folder holds; run the proof again",
            uids.len(),
            selected
                .exists
                .map_or_else(|| "unknown number".to_string(), |n| n.to_string())
        ))));
    }
    Ok(Some((
        selected.uid_validity,
        metas
            .iter()
            .map(|m| Listed {
                uid: m.uid,
                size: m.size,
            })
            .collect(),
    )))
}

/// Audits one mailbox: both servers and the store are only read.
pub async fn audit_mailbox(job: &MailboxJob, store: &dyn Store) -> Result<MailboxAudit, SyncError> {
    let mut src = open(&job.source, Role::Source).await?;
    let mut dst = open(&job.target, Role::Target).await?;
    // The folders and where they go; nothing of a pass's scan is needed here, since
    // every folder is listed whole below.
    let layout = observe::map_folders(&mut src, &mut dst, job, false, &[]).await?;
    let email = job.email.as_str();
    let states = store.folder_states(email).await?;
    let skipped = store.skipped_items(email).await?;
    let mut folders = Vec::new();
    for m in layout.mappings.iter().filter(|m| m.selectable) {
        let Some((validity, source)) = listing(&mut src, Role::Source, &m.src).await? else {
            continue;
        };
        let target = listing(&mut dst, Role::Target, &m.dst).await?;
        let ledger = FolderLedger {
            records: store
                .copied_messages(email, &m.src, validity)
                .await?
                .into_iter()
                .map(|c| Record {
                    src_uid: c.src_uid,
                    dst_uidvalidity: c.dst_uidvalidity,
                    dst_uid: c.dst_uid,
                })
                .collect(),
            target_validity: target.as_ref().map(|(v, _)| *v),
            skipped: skipped
                .iter()
                .filter(|i| i.src_name == m.src && i.src_uidvalidity == validity)
                .map(|i| (i.src_uid, format!("{}: {}", i.kind, i.reason)))
                .collect(),
            uid_next_at_last_pass: states
                .iter()
                .find(|s| s.src_name == m.src && s.src_uidvalidity == validity)
                .and_then(|s| s.uidnext),
        };
        let target = target.map(|(_, t)| t).unwrap_or_default();
        folders.push(FolderAudit {
            source_folder: MailboxName::from_wire(m.src.clone()).to_display(),
            target_folder: MailboxName::from_wire(m.dst.clone()).to_display(),
            account: completeness::account(&source, &target, &ledger),
        });
    }
    let _ = src.logout().await;
    let _ = dst.logout().await;
    Ok(MailboxAudit {
        user: email.to_string(),
        folders,
        folders_left_out: layout.folders_left_out,
        folders_excluded: job.excluded_folders.clone(),
    })
}
