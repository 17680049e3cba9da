//! The target's folders before any message moves: the missing ones created, and
//! subscriptions changed as [`crate::subscriptions`] plans, all pipelined in one round
//! trip or a few. Then the source's subscriptions are recorded, so the next pass sees
//! only what the source changes after this one.

use std::collections::{BTreeSet, HashMap};

use cutover_imap::{FolderSetup, MailboxName, Session};
use cutover_store::{FolderState, Store};
use tracing::{debug, warn};

use crate::folder_map::FolderMapping;
use crate::pass::{Role, SyncError};
use crate::subscriptions::{FolderSubscription, plan_subscription};

/// Creates the target folders the pass needs and applies the subscription plan.
/// `states` are the folders earlier passes saw, renames followed: none of them is
/// created again. `dst_subscribed` is the target's LSUB. Returns the target folders whose
/// CREATE the target refused, with its answer: the pass copies nothing into them (nor
/// into their subfolders) and reports them on the user.
pub async fn set_up(
    dst: &mut Session,
    store: &dyn Store,
    email: &str,
    mappings: &[FolderMapping],
    states: &HashMap<Vec<u8>, FolderState>,
    dst_subscribed: &BTreeSet<Vec<u8>>,
) -> Result<Vec<(MailboxName, String)>, SyncError> {
    let seen: HashMap<Vec<u8>, bool> = store.subscriptions_seen(email).await?.into_iter().collect();
    let mut setups = Vec::new();
    // A source parent that holds only subfolders (\Noselect) is not created by name: the
    // CREATE of its first subfolder makes it (RFC 3501 6.3.3), as the target keeps such
    // parents, so it does not become an empty folder of its own where the target can
    // keep the shape.
    let mut parents = Vec::new();
    for m in mappings {
        let create = m.create && !states.contains_key(&m.src);
        if create && !m.selectable {
            parents.push(MailboxName::from_wire(m.dst.clone()));
        }
        let plan = plan_subscription(&FolderSubscription {
            source: m.subscribe,
            source_seen: seen.get(&m.src).copied(),
            target: dst_subscribed.contains(&m.dst),
            target_created: create,
        });
        let name = MailboxName::from_wire(m.dst.clone());
        if let Some(step) = plan.step {
            debug!(user = email, folder = %name, %step, case = ?plan.case, "subscription changed on the target");
        }
        let create = create && m.selectable;
        if create || plan.step.is_some() {
            setups.push(FolderSetup {
                name,
                create,
                subscribe: plan.step.map(|s| s.subscribes()),
            });
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
    let record: Vec<(Vec<u8>, bool)> = mappings
        .iter()
        .filter(|m| seen.get(&m.src) != Some(&m.subscribe))
        .filter(|m| !refused.contains(m.dst.as_slice()))
        .map(|m| (m.src.clone(), m.subscribe))
        .collect();
    store.set_subscriptions_seen(email, &record).await?;
    Ok(creates
        .into_iter()
        .map(|(name, _, error)| (name, error.to_string()))
        .collect())
}
