//! Subscriptions are part of the copy: whether a pass subscribes or unsubscribes a
//! target folder. A pure function per mapped folder, from the source's subscription now,
//! the one the last pass recorded, and the target's now.
//!
//! Subscriptions move as *changes*, like flags ([`crate::incremental`]): a folder the
//! source subscribed or unsubscribed since the last pass gets the same change on the
//! target; one it did not touch is left as the target has it, so a change the user made
//! on the target after the MX switch survives.
//!
//! The first time a pass sees a folder (the first pass, a folder new or renamed since,
//! or a migration begun before subscriptions were recorded) there is no change to
//! follow. A target folder this pass creates is the migration's own and gets the
//! source's subscription exactly. A target folder that was there already is subscribed
//! when the source's is, and otherwise left alone: a subscription the target's user had
//! is theirs.

use std::fmt;

/// One mapped folder's subscriptions, as a pass sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderSubscription {
    /// The source subscribes the folder now.
    pub source: bool,
    /// The source's subscription the last pass recorded; `None` when no pass recorded
    /// one (see the module's doc).
    pub source_seen: Option<bool>,
    /// The target subscribes its folder now.
    pub target: bool,
    /// This pass creates the target folder (it was not there before).
    pub target_created: bool,
}

/// Which rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionCase {
    /// First sight, and the target folder is new: it gets the source's subscription
    /// exactly (a subscription the target kept for a name without a folder goes).
    NewTargetFolder,
    /// First sight, and the target folder was there: subscribed if the source's is; the
    /// target's own subscription stays.
    ExistingTargetFolder,
    /// The source subscribed or unsubscribed the folder since the last pass: so does
    /// the target (nothing to send when it already did).
    SourceChanged,
    /// The source left it as it was: so does the pass, whatever the target shows.
    SourceUnchanged,
}

/// A command for the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStep {
    Subscribe,
    Unsubscribe,
}

impl SubscriptionStep {
    /// The step that brings a target subscription `target` to `wanted`, if any.
    fn toward(wanted: bool, target: bool) -> Option<Self> {
        match (wanted, target) {
            (true, false) => Some(Self::Subscribe),
            (false, true) => Some(Self::Unsubscribe),
            _ => None,
        }
    }

    /// Whether the folder is subscribed after the step.
    pub fn subscribes(self) -> bool {
        self == Self::Subscribe
    }
}

impl fmt::Display for SubscriptionStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
        })
    }
}

/// What to do with one folder's subscription, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionPlan {
    pub case: SubscriptionCase,
    pub step: Option<SubscriptionStep>,
}

/// Once the plan is applied, the pass records `f.source` as seen, so that the next pass
/// sees only what the source changes after this one.
pub fn plan_subscription(f: &FolderSubscription) -> SubscriptionPlan {
    let (case, step) = match f.source_seen {
        None if f.target_created => (
            SubscriptionCase::NewTargetFolder,
            SubscriptionStep::toward(f.source, f.target),
        ),
        None => (
            SubscriptionCase::ExistingTargetFolder,
            // Only ever adds: `toward(true, _)` never unsubscribes.
            SubscriptionStep::toward(f.source || f.target, f.target),
        ),
        Some(seen) if seen != f.source => (
            SubscriptionCase::SourceChanged,
            SubscriptionStep::toward(f.source, f.target),
        ),
        Some(_) => (SubscriptionCase::SourceUnchanged, None),
    };
    SubscriptionPlan { case, step }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubscriptionCase::*;
    use SubscriptionStep::*;
    use proptest::prelude::*;

    fn plan(source: bool, seen: Option<bool>, target: bool, created: bool) -> SubscriptionPlan {
        plan_subscription(&FolderSubscription {
            source,
            source_seen: seen,
            target,
            target_created: created,
        })
    }

    fn is(case: SubscriptionCase, step: Option<SubscriptionStep>) -> SubscriptionPlan {
        SubscriptionPlan { case, step }
    }

    #[test]
    fn a_folder_the_migration_creates_gets_the_source_subscription_exactly() {
        assert_eq!(
            plan(true, None, false, true),
            is(NewTargetFolder, Some(Subscribe))
        );
        assert_eq!(plan(false, None, false, true), is(NewTargetFolder, None));
        // A subscription the target kept for a name that had no folder.
        assert_eq!(
            plan(false, None, true, true),
            is(NewTargetFolder, Some(Unsubscribe))
        );
        assert_eq!(plan(true, None, true, true), is(NewTargetFolder, None));
    }

    #[test]
    fn a_folder_already_on_the_target_is_subscribed_but_never_unsubscribed_at_first_sight() {
        assert_eq!(
            plan(true, None, false, false),
            is(ExistingTargetFolder, Some(Subscribe))
        );
        assert_eq!(
            plan(true, None, true, false),
            is(ExistingTargetFolder, None)
        );
        // The target's user subscribed it; the source did not: theirs stays.
        assert_eq!(
            plan(false, None, true, false),
            is(ExistingTargetFolder, None)
        );
        assert_eq!(
            plan(false, None, false, false),
            is(ExistingTargetFolder, None)
        );
    }

    #[test]
    fn a_change_on_the_source_goes_to_the_target() {
        assert_eq!(
            plan(false, Some(true), true, false),
            is(SourceChanged, Some(Unsubscribe))
        );
        assert_eq!(
            plan(true, Some(false), false, false),
            is(SourceChanged, Some(Subscribe))
        );
        // The target made the same change already: nothing to send.
        assert_eq!(
            plan(false, Some(true), false, false),
            is(SourceChanged, None)
        );
        assert_eq!(
            plan(true, Some(false), true, false),
            is(SourceChanged, None)
        );
    }

    #[test]
    fn without_a_change_on_the_source_the_target_keeps_its_own() {
        for (source, target) in [(true, true), (true, false), (false, true), (false, false)] {
            assert_eq!(
                plan(source, Some(source), target, false),
                is(SourceUnchanged, None),
                "source {source}, target {target}"
            );
        }
    }

    #[test]
    fn steps_show_as_the_imap_command() {
        assert_eq!(Subscribe.to_string(), "subscribe");
        assert_eq!(Unsubscribe.to_string(), "unsubscribe");
        assert!(Subscribe.subscribes() && !Unsubscribe.subscribes());
    }

    /// Who changed a folder's subscription last.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Last {
        Source,
        Target(bool),
    }

    /// One folder before the first pass: source and target subscribed, and whether the
    /// target folder exists already.
    fn folder() -> impl Strategy<Value = (bool, bool, bool)> {
        (any::<bool>(), any::<bool>(), any::<bool>())
    }

    /// Per later pass and folder: does the source toggle it, does the target's user.
    fn changes(folders: usize) -> impl Strategy<Value = Vec<Vec<(bool, bool)>>> {
        proptest::collection::vec(
            proptest::collection::vec((any::<bool>(), any::<bool>()), folders),
            1..6,
        )
    }

    /// Runs the plan of every folder and applies it to the target; returns the cases.
    fn pass(
        source: &[bool],
        seen: &mut [Option<bool>],
        target: &mut [bool],
        created: bool,
        existing: &[bool],
    ) -> Vec<SubscriptionCase> {
        let mut cases = Vec::new();
        for i in 0..source.len() {
            let p = plan_subscription(&FolderSubscription {
                source: source[i],
                source_seen: seen[i],
                target: target[i],
                target_created: created && !existing[i],
            });
            if let Some(step) = p.step {
                // Never a command the target does not need.
                assert_ne!(target[i], step.subscribes());
                target[i] = step.subscribes();
            }
            seen[i] = Some(source[i]);
            cases.push(p.case);
        }
        cases
    }

    proptest! {
        /// Over several passes with random changes on both sides: a folder the source
        /// changed last matches the source; a folder the target's user changed since the
        /// source's last change keeps the user's choice; a pass right after another plans
        /// nothing.
        #[test]
        fn changes_move_and_the_users_own_survive(
            (initial, rounds) in proptest::collection::vec(folder(), 1..8)
                .prop_flat_map(|f| { let n = f.len(); (Just(f), changes(n)) })
        ) {
            let mut source: Vec<bool> = initial.iter().map(|f| f.0).collect();
            let existing: Vec<bool> = initial.iter().map(|f| f.2).collect();
            // A target folder that does not exist may still be subscribed (LSUB keeps names).
            let mut target: Vec<bool> = initial.iter().map(|f| f.1).collect();
            let mut seen = vec![None; source.len()];

            let before = target.clone();
            pass(&source, &mut seen, &mut target, true, &existing);
            let mut last = Vec::new();
            for i in 0..source.len() {
                if existing[i] {
                    // Subscribed when the source is, otherwise as the target had it.
                    prop_assert_eq!(target[i], source[i] || before[i]);
                    last.push(Last::Target(target[i]));
                } else {
                    prop_assert_eq!(target[i], source[i]);
                    last.push(Last::Source);
                }
            }

            for round in rounds {
                for (i, (source_toggles, user_toggles)) in round.into_iter().enumerate() {
                    if source_toggles {
                        source[i] = !source[i];
                    }
                    if user_toggles {
                        target[i] = !target[i];
                        last[i] = Last::Target(target[i]);
                    }
                }
                let changed: Vec<bool> =
                    (0..source.len()).map(|i| seen[i] != Some(source[i])).collect();
                let before = target.clone();
                let cases = pass(&source, &mut seen, &mut target, false, &existing);
                for i in 0..source.len() {
                    if changed[i] {
                        prop_assert_eq!(cases[i], SubscriptionCase::SourceChanged);
                        prop_assert_eq!(target[i], source[i]);
                        last[i] = Last::Source;
                    } else {
                        prop_assert_eq!(cases[i], SubscriptionCase::SourceUnchanged);
                        prop_assert_eq!(target[i], before[i], "folder {} touched", i);
                    }
                }
                for i in 0..source.len() {
                    match last[i] {
                        Last::Source => prop_assert_eq!(target[i], source[i]),
                        Last::Target(mine) => prop_assert_eq!(target[i], mine),
                    }
                }
                // Nothing changed since: nothing to do.
                let again = target.clone();
                pass(&source, &mut seen, &mut target, false, &existing);
                prop_assert_eq!(&target, &again);
            }
        }
    }
}
