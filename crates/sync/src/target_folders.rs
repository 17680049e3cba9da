//! The target's folders before any message moves: the folders the plan creates and the
//! subscription changes it makes, all pipelined in one round trip or a few. Then the
//! source's subscriptions are recorded, so the next pass sees only what the source
//! changes after this one.

use std::collections::BTreeSet;

use cutover_imap::{FolderSetup, MailboxName, Session};
use cutover_store::Store;
use tracing::{debug, warn};

use crate::pass::{Role, SyncError};
use crate::plan::Step;

/// What the target made of the plan's folder steps.
#[derive(Debug, Default)]
pub(crate) struct SetUp {
    /// Folders whose CREATE the target refused, with its answer: the pass copies nothing
    /// into them (nor into their subfolders) and reports them on the user.
    pub(crate) refused: Vec<(MailboxName, String)>,
    /// Source parents that hold only subfolders, created by name because the target
    /// wanted them first: folders that can hold mail there, reported on the user.
    pub(crate) parents_by_name: Vec<MailboxName>,
    /// Folders whose subscription change the target refused (the next pass tries again).
    pub(crate) refused_subscriptions: Vec<MailboxName>,
}

/// Makes the plan's folder steps (`CreateFolder`, `Subscribe`, `Unsubscribe`; others are
/// ignored) on the target, and records `subscriptions_seen` (source name, target name,
/// subscribed) but where the target refused.
pub(crate) async fn set_up(
    dst: &mut Session,
    store: &dyn Store,
    email: &str,
    steps: &[Step],
    subscriptions_seen: &[(Vec<u8>, Vec<u8>, bool)],
) -> Result<SetUp, SyncError> {
    let mut setups: Vec<FolderSetup> = Vec::new();
    // A source parent that holds only subfolders (\Noselect) is not created by name: the
    // CREATE of its first subfolder makes it (RFC 3501 6.3.3), as the target keeps such
    // parents, so it does not become an empty folder of its own where the target can
    // keep the shape.
    let mut parents = Vec::new();
    let mut at: std::collections::HashMap<Vec<u8>, usize> = Default::default();
    for step in steps {
        let (dst_name, create, subscribe, case) = match step {
            Step::CreateFolder {
                dst,
                parent_only: true,
                ..
            } => {
                parents.push(MailboxName::from_wire(dst.clone()));
                continue;
            }
            Step::CreateFolder { dst, .. } => (dst, true, None, None),
            Step::Subscribe { dst, case, .. } => (dst, false, Some(true), Some(case)),
            Step::Unsubscribe { dst, case, .. } => (dst, false, Some(false), Some(case)),
            _ => continue,
        };
        let name = MailboxName::from_wire(dst_name.clone());
        if let Some(case) = case {
            debug!(user = email, folder = %name, subscribe, ?case, "subscription changed on the target");
        }
        match at.get(dst_name.as_slice()) {
            Some(&i) => {
                setups[i].create |= create;
                setups[i].subscribe = subscribe.or(setups[i].subscribe);
            }
            None => {
                at.insert(dst_name.clone(), setups.len());
                setups.push(FolderSetup {
                    name,
                    create,
                    subscribe,
                });
            }
        }
    }
    let setup_err = |(name, source): (MailboxName, _)| SyncError::Folder {
        role: Role::Target,
        folder: name.to_display(),
        source,
    };
    let refused = dst.set_up_folders(&setups).await.map_err(setup_err)?;
    let (mut creates, subscriptions): (Vec<_>, Vec<_>) = refused
        .into_iter()
        .partition(|(_, command, _)| *command == "CREATE");
    // A server that makes no missing parent on CREATE refuses the subfolders: then the
    // parents are created by name after all, and the subfolders again.
    let mut parents_by_name = Vec::new();
    if !creates.is_empty() && !parents.is_empty() {
        debug!(
            user = email,
            refused = creates.len(),
            "creating parent folders by name, then their subfolders again"
        );
        let again: Vec<FolderSetup> = parents
            .iter()
            .chain(creates.iter().map(|(name, _, _)| name))
            .map(|name| FolderSetup {
                name: name.clone(),
                create: true,
                subscribe: None,
            })
            .collect();
        creates = dst
            .set_up_folders(&again)
            .await
            .map_err(setup_err)?
            .into_iter()
            .filter(|(_, command, _)| *command == "CREATE")
            .collect();
        parents_by_name = parents
            .into_iter()
            .filter(|p| !creates.iter().any(|(n, _, _)| n == p))
            .collect();
    }
    for (name, _, error) in &subscriptions {
        warn!(user = email, folder = %name, %error,
            "the target refused a subscription change; the next pass tries again");
    }
    // What the source shows now, except where the target refused: there the next pass
    // still sees the source's change and makes it again.
    let refused: BTreeSet<&[u8]> = subscriptions
        .iter()
        .chain(&creates)
        .map(|(n, _, _)| n.as_bytes())
        .collect();
    let record: Vec<(Vec<u8>, bool)> = subscriptions_seen
        .iter()
        .filter(|(_, dst, _)| !refused.contains(dst.as_slice()))
        .map(|(src, _, subscribed)| (src.clone(), *subscribed))
        .collect();
    store.set_subscriptions_seen(email, &record).await?;
    Ok(SetUp {
        refused_subscriptions: subscriptions.into_iter().map(|(n, _, _)| n).collect(),
        refused: creates
            .into_iter()
            .map(|(name, _, error)| (name, error.to_string()))
            .collect(),
        parents_by_name,
    })
}
