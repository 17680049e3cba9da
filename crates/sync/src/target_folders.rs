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
    for m in mappings {
        let create = m.create && !states.contains_key(&m.src);
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
        if create || plan.step.is_some() {
            setups.push(FolderSetup {
                name,
                create,
                subscribe: plan.step.map(|s| s.subscribes()),
            });
        }
    }
    let refused = dst
        .set_up_folders(&setups)
        .await
        .map_err(|(name, source)| SyncError::Folder {
            role: Role::Target,
            folder: name.to_display(),
            source,
        })?;
    let (creates, subscriptions): (Vec<_>, Vec<_>) = refused
        .into_iter()
        .partition(|(_, command, _)| *command == "CREATE");
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
