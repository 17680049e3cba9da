//! One test per arm of the plan, then properties over random users driven through a
//! model of the target and the ledger (applying the steps as apply does, crashing
//! between a PUT and its record).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::facts::target_collection_href;
use crate::facts::{SourceCollection, TargetCollection, TargetHomes};

fn homes() -> TargetHomes {
    TargetHomes {
        calendars: "/t/cal/".into(),
        address_books: "/t/card/".into(),
    }
}

fn item(href: &str, etag: &str) -> ItemRef {
    ItemRef {
        href: href.into(),
        etag: etag.into(),
    }
}

fn calendar(name: &str, listing: SourceListing) -> SourceCollection {
    SourceCollection {
        href: format!("/s/{name}/"),
        kind: CollectionKind::Calendar,
        props: CollectionProps {
            display_name: Some(name.to_uppercase()),
            ..CollectionProps::default()
        },
        listing,
    }
}

fn record(name: &str, item: &str, source_etag: &str, target_etag: &str) -> DavRecord {
    DavRecord {
        source_collection: format!("/s/{name}/"),
        source_href: format!("/s/{name}/{item}"),
        source_etag: source_etag.into(),
        uid: format!("uid-{item}"),
        target_collection: format!("/t/cal/{name}/"),
        target_href: format!("/t/cal/{name}/{item}"),
        target_etag: target_etag.into(),
        kind: Default::default(),
    }
}

fn intent_of(r: &DavRecord, source_etag: &str) -> DavIntent {
    DavIntent {
        source_collection: r.source_collection.clone(),
        source_href: r.source_href.clone(),
        source_etag: source_etag.into(),
        uid: r.uid.clone(),
        target_collection: r.target_collection.clone(),
        target_href: r.target_href.clone(),
        kind: r.kind,
    }
}

fn target(name: &str, items: Vec<ItemRef>) -> TargetCollection {
    TargetCollection {
        href: format!("/t/cal/{name}/"),
        kind: CollectionKind::Calendar,
        items,
    }
}

fn facts(sources: Vec<SourceCollection>, targets: Vec<TargetCollection>) -> DavFacts {
    DavFacts {
        sources,
        targets,
        homes: homes(),
        records: vec![],
        intents: vec![],
    }
}

#[test]
fn a_new_collection_is_created_and_its_items_copied_under_their_names() {
    let f = facts(
        vec![calendar(
            "work",
            SourceListing::Complete(vec![item("/s/work/a.ics", "1")]),
        )],
        vec![],
    );
    let steps = plan(&f);
    assert_eq!(
        steps,
        vec![
            Step::CreateCollection {
                source: "/s/work/".into(),
                href: "/t/cal/work/".into(),
                kind: CollectionKind::Calendar,
                props: f.sources[0].props.clone(),
            },
            Step::Copy {
                source_collection: "/s/work/".into(),
                source_href: "/s/work/a.ics".into(),
                target_collection: "/t/cal/work/".into(),
                target_href: "/t/cal/work/a.ics".into(),
            },
        ]
    );
    assert_eq!(
        steps[1].to_string(),
        "copy /s/work/a.ics to /t/cal/work/a.ics"
    );
}

#[test]
fn a_collection_gone_from_the_target_is_created_and_filled_again() {
    let mut f = facts(
        vec![calendar(
            "work",
            SourceListing::Complete(vec![item("/s/work/a.ics", "1")]),
        )],
        vec![],
    );
    f.records = vec![
        record("work", "a.ics", "1", "t1"),
        record("work", "gone.ics", "1", "t2"),
    ];
    let steps = plan(&f);
    assert!(
        matches!(steps[0], Step::CreateCollection { .. }),
        "{steps:?}"
    );
    assert_eq!(
        steps[1..],
        [
            Step::Forget {
                source_href: "/s/work/gone.ics".into()
            },
            Step::Copy {
                source_collection: "/s/work/".into(),
                source_href: "/s/work/a.ics".into(),
                target_collection: "/t/cal/work/".into(),
                target_href: "/t/cal/work/a.ics".into(),
            }
        ]
    );
}

#[test]
fn an_unchanged_recorded_item_is_left_alone() {
    let mut f = facts(
        vec![calendar(
            "work",
            SourceListing::Complete(vec![item("/s/work/a.ics", "1")]),
        )],
        vec![target("work", vec![item("/t/cal/work/a.ics", "t1")])],
    );
    f.records = vec![record("work", "a.ics", "1", "t1")];
    assert_eq!(plan(&f), vec![]);
}

#[test]
fn a_changed_item_is_updated_if_it_still_matches_the_target() {
    let mut f = facts(
        vec![calendar(
            "work",
            SourceListing::Complete(vec![item("/s/work/a.ics", "2")]),
        )],
        vec![target("work", vec![item("/t/cal/work/a.ics", "t1")])],
    );
    f.records = vec![record("work", "a.ics", "1", "t1")];
    assert_eq!(
        plan(&f),
        vec![Step::Update {
            source_collection: "/s/work/".into(),
            source_href: "/s/work/a.ics".into(),
            target_collection: "/t/cal/work/".into(),
            target_href: "/t/cal/work/a.ics".into(),
            if_match: "t1".into(),
        }]
    );
}

#[test]
fn a_changed_item_the_target_lost_is_copied_again() {
    let mut f = facts(
        vec![calendar(
            "work",
            SourceListing::Complete(vec![item("/s/work/a.ics", "2")]),
        )],
        vec![target("work", vec![])],
    );
    f.records = vec![record("work", "a.ics", "1", "t1")];
    assert!(
        matches!(&plan(&f)[..], [Step::Copy { target_href, .. }] if target_href == "/t/cal/work/a.ics")
    );
}

#[test]
fn an_item_missing_from_a_complete_listing_is_deleted() {
    let mut f = facts(
        vec![calendar("work", SourceListing::Complete(vec![]))],
        vec![target("work", vec![item("/t/cal/work/a.ics", "t1")])],
    );
    f.records = vec![record("work", "a.ics", "1", "t1")];
    assert_eq!(
        plan(&f),
        vec![Step::Delete {
            source_href: "/s/work/a.ics".into(),
            target_href: "/t/cal/work/a.ics".into(),
            if_match: "t1".into(),
        }]
    );
}

#[test]
fn an_item_missing_from_a_partial_listing_stays() {
    let mut f = facts(
        vec![calendar("work", SourceListing::Partial(vec![]))],
        vec![target("work", vec![item("/t/cal/work/a.ics", "t1")])],
    );
    f.records = vec![record("work", "a.ics", "1", "t1")];
    assert_eq!(plan(&f), vec![]);
}

#[test]
fn a_delta_deletes_only_what_it_reports_removed() {
    let mut f = facts(
        vec![calendar(
            "work",
            SourceListing::Delta {
                changed: vec![],
                removed: vec!["/s/work/a.ics".into(), "/s/work/never.ics".into()],
            },
        )],
        vec![target(
            "work",
            vec![
                item("/t/cal/work/a.ics", "t1"),
                item("/t/cal/work/b.ics", "t2"),
            ],
        )],
    );
    f.records = vec![
        record("work", "a.ics", "1", "t1"),
        record("work", "b.ics", "1", "t2"),
    ];
    assert_eq!(
        plan(&f),
        vec![Step::Delete {
            source_href: "/s/work/a.ics".into(),
            target_href: "/t/cal/work/a.ics".into(),
            if_match: "t1".into(),
        }]
    );
}

#[test]
fn an_item_gone_from_both_sides_is_forgotten() {
    let mut f = facts(
        vec![calendar("work", SourceListing::Complete(vec![]))],
        vec![target("work", vec![])],
    );
    f.records = vec![record("work", "a.ics", "1", "t1")];
    assert_eq!(
        plan(&f),
        vec![Step::Forget {
            source_href: "/s/work/a.ics".into()
        }]
    );
}

#[test]
fn a_new_items_intent_whose_put_landed_is_recorded_and_not_copied_again() {
    let r = record("work", "a.ics", "1", "t1");
    let mut f = facts(
        vec![calendar(
            "work",
            SourceListing::Complete(vec![item("/s/work/a.ics", "1")]),
        )],
        vec![target("work", vec![item("/t/cal/work/a.ics", "t1")])],
    );
    f.intents = vec![intent_of(&r, "1")];
    assert_eq!(
        plan(&f),
        vec![Step::RecordLanded {
            intent: intent_of(&r, "1"),
            target_etag: "t1".into()
        }]
    );
}

#[test]
fn a_new_items_intent_whose_put_did_not_land_is_dropped_and_copied() {
    let r = record("work", "a.ics", "1", "t1");
    let mut f = facts(
        vec![calendar(
            "work",
            SourceListing::Complete(vec![item("/s/work/a.ics", "1")]),
        )],
        vec![target("work", vec![])],
    );
    f.intents = vec![intent_of(&r, "1")];
    let steps = plan(&f);
    assert_eq!(
        steps[0],
        Step::DropIntent {
            intent: intent_of(&r, "1")
        }
    );
    assert!(matches!(steps[1], Step::Copy { .. }), "{steps:?}");
}

#[test]
fn an_updates_intent_landed_only_if_the_target_etag_moved() {
    let r = record("work", "a.ics", "1", "t1");
    let source = calendar(
        "work",
        SourceListing::Complete(vec![item("/s/work/a.ics", "2")]),
    );
    let mut landed = facts(
        vec![source.clone()],
        vec![target("work", vec![item("/t/cal/work/a.ics", "t2")])],
    );
    landed.records = vec![r.clone()];
    landed.intents = vec![intent_of(&r, "2")];
    assert_eq!(
        plan(&landed),
        vec![Step::RecordLanded {
            intent: intent_of(&r, "2"),
            target_etag: "t2".into()
        }]
    );

    let mut not_landed = facts(
        vec![source],
        vec![target("work", vec![item("/t/cal/work/a.ics", "t1")])],
    );
    not_landed.records = vec![r.clone()];
    not_landed.intents = vec![intent_of(&r, "2")];
    let steps = plan(&not_landed);
    assert_eq!(
        steps[0],
        Step::DropIntent {
            intent: intent_of(&r, "2")
        }
    );
    assert!(matches!(&steps[1], Step::Update { if_match, .. } if if_match == "t1"));
}

#[test]
fn a_target_item_no_record_put_there_is_not_overwritten() {
    let f = facts(
        vec![calendar(
            "work",
            SourceListing::Complete(vec![item("/s/work/a.ics", "1")]),
        )],
        vec![target("work", vec![item("/t/cal/work/a.ics", "x")])],
    );
    assert_eq!(
        plan(&f),
        vec![Step::Skip {
            source: "/s/work/a.ics".into(),
            reason: SkipReason::TargetHrefTaken {
                target: "/t/cal/work/a.ics".into()
            }
        }]
    );
}

#[test]
fn a_target_collection_of_the_other_kind_is_not_used() {
    let mut t = target("work", vec![]);
    t.kind = CollectionKind::AddressBook;
    let f = facts(
        vec![calendar(
            "work",
            SourceListing::Complete(vec![item("/s/work/a.ics", "1")]),
        )],
        vec![t],
    );
    assert!(matches!(
        &plan(&f)[..],
        [Step::Skip {
            reason: SkipReason::CollectionKindConflict { .. },
            ..
        }]
    ));
}

#[test]
fn two_source_collections_with_one_target_name_keep_the_first() {
    let mut second = calendar("work", SourceListing::Complete(vec![]));
    second.href = "/s2/work/".into();
    let f = facts(
        vec![calendar("work", SourceListing::Complete(vec![])), second],
        vec![target("work", vec![])],
    );
    assert!(matches!(
        &plan(&f)[..],
        [Step::Skip { reason: SkipReason::CollectionNameShared { .. }, source }] if source == "/s2/work/"
    ));
}

// ---- properties: the plan driven through a model of the target and the ledger ----

type Items = BTreeMap<String, String>;

/// The target (collection -> item href -> ETag) and the ledger, as apply leaves them.
#[derive(Debug, Clone, Default)]
struct World {
    target: BTreeMap<String, (CollectionKind, Items)>,
    records: BTreeMap<String, DavRecord>,
    intents: BTreeMap<String, DavIntent>,
    next_etag: u64,
}

impl World {
    fn facts(&self, sources: &[SourceCollection]) -> DavFacts {
        DavFacts {
            sources: sources.to_vec(),
            targets: self
                .target
                .iter()
                .map(|(href, (kind, items))| TargetCollection {
                    href: href.clone(),
                    kind: *kind,
                    items: items.iter().map(|(h, e)| item(h, e)).collect(),
                })
                .collect(),
            homes: homes(),
            records: self.records.values().cloned().collect(),
            intents: self.intents.values().cloned().collect(),
        }
    }

    /// Applies the steps as apply does, asserting what the servers would refuse
    /// (MKCOL over a collection, `If-None-Match: *` over an item, a stale `If-Match`).
    /// `crash` stops at that step: after its intent and, if `landed`, its PUT.
    fn apply(
        &mut self,
        sources: &[SourceCollection],
        steps: &[Step],
        crash: Option<(usize, bool)>,
    ) {
        for (n, step) in steps.iter().enumerate() {
            let crash_here = crash.filter(|(at, _)| *at == n).map(|(_, landed)| landed);
            match step {
                Step::RecordLanded {
                    intent,
                    target_etag,
                } => {
                    self.intents.remove(&intent.source_href);
                    self.records.insert(
                        intent.source_href.clone(),
                        record_from_intent(intent, target_etag),
                    );
                }
                Step::DropIntent { intent } => {
                    self.intents.remove(&intent.source_href);
                }
                Step::CreateCollection { href, kind, .. } => {
                    assert!(
                        !self.target.contains_key(href),
                        "MKCOL over an existing {href}"
                    );
                    self.target.insert(href.clone(), (*kind, BTreeMap::new()));
                }
                Step::Copy {
                    source_collection,
                    source_href,
                    target_collection,
                    target_href,
                }
                | Step::Update {
                    source_collection,
                    source_href,
                    target_collection,
                    target_href,
                    ..
                } => {
                    let source_etag = sources
                        .iter()
                        .flat_map(|s| s.listing.present())
                        .find(|i| &i.href == source_href)
                        .map(|i| i.etag.clone())
                        .expect("a copied item is in the listing");
                    let intent = DavIntent {
                        source_collection: source_collection.clone(),
                        source_href: source_href.clone(),
                        source_etag,
                        uid: format!("uid-{source_href}"),
                        target_collection: target_collection.clone(),
                        target_href: target_href.clone(),
                        kind: Default::default(),
                    };
                    self.intents.insert(source_href.clone(), intent.clone());
                    if crash_here == Some(false) {
                        return;
                    }
                    self.next_etag += 1;
                    let new_etag = format!("t{}", self.next_etag);
                    let items = &mut self
                        .target
                        .get_mut(target_collection)
                        .expect("collection exists")
                        .1;
                    if let Step::Update { if_match, .. } = step {
                        assert_eq!(items.get(target_href), Some(if_match), "If-Match failed");
                    } else {
                        assert!(!items.contains_key(target_href), "PUT over {target_href}");
                    }
                    items.insert(target_href.clone(), new_etag.clone());
                    if crash_here == Some(true) {
                        return;
                    }
                    self.intents.remove(source_href);
                    self.records
                        .insert(source_href.clone(), record_from_intent(&intent, &new_etag));
                }
                Step::Delete {
                    source_href,
                    target_href,
                    if_match,
                } => {
                    let collection = self
                        .target
                        .values_mut()
                        .find(|(_, items)| items.contains_key(target_href))
                        .expect("the deleted item is on the target");
                    assert_eq!(collection.1.get(target_href), Some(if_match));
                    collection.1.remove(target_href);
                    if crash_here.is_some() {
                        return;
                    }
                    self.records.remove(source_href);
                }
                Step::Forget { source_href } => {
                    self.records.remove(source_href);
                }
                Step::Skip { .. } => {}
            }
            if crash_here.is_some() {
                return;
            }
        }
    }
}

fn record_from_intent(i: &DavIntent, target_etag: &str) -> DavRecord {
    DavRecord {
        source_collection: i.source_collection.clone(),
        source_href: i.source_href.clone(),
        source_etag: i.source_etag.clone(),
        uid: i.uid.clone(),
        target_collection: i.target_collection.clone(),
        target_href: i.target_href.clone(),
        target_etag: target_etag.to_string(),
        kind: i.kind,
    }
}

/// Random source collections: calendars c0..c2 and address books c3, c4, each with up
/// to six items of small ETags.
fn sources() -> impl Strategy<Value = Vec<SourceCollection>> {
    proptest::collection::vec(
        (
            0..5usize,
            proptest::collection::btree_map(0..8u8, 0..3u8, 0..6),
        ),
        0..5,
    )
    .prop_map(|collections| {
        let mut seen = BTreeSet::new();
        collections
            .into_iter()
            .filter(|(name, _)| seen.insert(*name))
            .map(|(name, items)| SourceCollection {
                href: format!("/s/c{name}/"),
                kind: if name < 3 {
                    CollectionKind::Calendar
                } else {
                    CollectionKind::AddressBook
                },
                props: CollectionProps::default(),
                listing: SourceListing::Complete(
                    items
                        .into_iter()
                        .map(|(i, e)| item(&format!("/s/c{name}/i{i}"), &format!("e{e}")))
                        .collect(),
                ),
            })
            .collect()
    })
}

/// A later state of the source: items removed, changed (a new ETag) and added.
fn mutate(sources: &[SourceCollection], seed: &[(u8, u8)]) -> Vec<SourceCollection> {
    sources
        .iter()
        .map(|s| {
            let mut items: Items = s
                .listing
                .present()
                .iter()
                .map(|i| (i.href.clone(), i.etag.clone()))
                .collect();
            for (what, n) in seed {
                let href = format!("{}i{}", s.href, n % 10);
                match what % 3 {
                    0 => {
                        items.remove(&href);
                    }
                    1 => {
                        items.insert(href, format!("m{what}"));
                    }
                    _ => {
                        items.entry(href).or_insert_with(|| "new".into());
                    }
                }
            }
            SourceCollection {
                listing: SourceListing::Complete(
                    items.into_iter().map(|(h, e)| item(&h, &e)).collect(),
                ),
                ..s.clone()
            }
        })
        .collect()
}

/// The target holds exactly one copy of every source item, recorded at its current
/// ETag, and nothing else; no intent is left open.
fn assert_exact(world: &World, sources: &[SourceCollection]) {
    for source in sources {
        let target = target_collection_href(&homes(), source.kind, &source.href);
        let items = &world.target.get(&target).expect("collection created").1;
        let expected: BTreeSet<String> = source
            .listing
            .present()
            .iter()
            .map(|i| target_item_href(&target, &i.href))
            .collect();
        let got: BTreeSet<String> = items.keys().cloned().collect();
        assert_eq!(got, expected, "target {target}");
        for i in source.listing.present() {
            let r = world.records.get(&i.href).expect("recorded");
            assert_eq!(r.source_etag, i.etag, "{} at its current ETag", i.href);
            assert_eq!(items.get(&r.target_href), Some(&r.target_etag));
        }
    }
    assert!(
        world.intents.is_empty(),
        "open intents: {:?}",
        world.intents
    );
}

proptest! {
    #[test]
    fn one_pass_copies_everything_and_a_second_pass_does_nothing(sources in sources()) {
        let mut world = World::default();
        let steps = plan(&world.facts(&sources));
        world.apply(&sources, &steps, None);
        assert_exact(&world, &sources);
        prop_assert_eq!(plan(&world.facts(&sources)), vec![]);
    }

    #[test]
    fn an_incremental_pass_follows_adds_changes_and_deletions(
        sources in sources(),
        seed in proptest::collection::vec((0..3u8, 0..10u8), 0..8),
    ) {
        let mut world = World::default();
        world.apply(&sources, &plan(&world.facts(&sources)), None);
        let later = mutate(&sources, &seed);
        world.apply(&later, &plan(&world.facts(&later)), None);
        assert_exact(&world, &later);
        prop_assert_eq!(plan(&world.facts(&later)), vec![]);
    }

    #[test]
    fn a_crash_at_any_step_and_a_rerun_leave_one_copy_of_each(
        sources in sources(),
        seed in proptest::collection::vec((0..3u8, 0..10u8), 0..8),
        crash_at in 0..40usize,
        landed in any::<bool>(),
    ) {
        let mut world = World::default();
        world.apply(&sources, &plan(&world.facts(&sources)), None);
        let later = mutate(&sources, &seed);
        let steps = plan(&world.facts(&later));
        world.apply(&later, &steps, Some((crash_at, landed)));
        // the model asserts on a PUT over an existing item (a duplicate) and on a
        // stale If-Match
        let rerun = plan(&world.facts(&later));
        world.apply(&later, &rerun, None);
        assert_exact(&world, &later);
        prop_assert_eq!(plan(&world.facts(&later)), vec![]);
    }

    #[test]
    fn a_crash_in_the_first_copy_and_a_rerun_leave_one_copy_of_each(
        sources in sources(),
        crash_at in 0..30usize,
        landed in any::<bool>(),
    ) {
        let mut world = World::default();
        let steps = plan(&world.facts(&sources));
        world.apply(&sources, &steps, Some((crash_at, landed)));
        let rerun = plan(&world.facts(&sources));
        world.apply(&sources, &rerun, None);
        assert_exact(&world, &sources);
    }

    #[test]
    fn a_collection_removed_from_the_target_is_made_whole_again(
        sources in sources(),
        seed in proptest::collection::vec((0..3u8, 0..10u8), 0..8),
        drop in 0..5usize,
    ) {
        let mut world = World::default();
        world.apply(&sources, &plan(&world.facts(&sources)), None);
        if let Some(source) = sources.get(drop) {
            world.target.remove(&target_collection_href(&homes(), source.kind, &source.href));
        }
        let later = mutate(&sources, &seed);
        world.apply(&later, &plan(&world.facts(&later)), None);
        assert_exact(&world, &later);
        prop_assert_eq!(plan(&world.facts(&later)), vec![]);
    }

    #[test]
    fn a_partial_listing_never_removes(
        sources in sources(),
        seed in proptest::collection::vec((0..3u8, 0..10u8), 0..8),
    ) {
        let mut world = World::default();
        world.apply(&sources, &plan(&world.facts(&sources)), None);
        let partial: Vec<SourceCollection> = mutate(&sources, &seed)
            .into_iter()
            .map(|s| SourceCollection {
                listing: SourceListing::Partial(s.listing.present().to_vec()),
                ..s
            })
            .collect();
        let steps = plan(&world.facts(&partial));
        prop_assert!(
            !steps.iter().any(|s| matches!(s, Step::Delete { .. } | Step::Forget { .. })),
            "{:?}", steps
        );
    }

    #[test]
    fn deletions_come_only_with_proof(
        sources in sources(),
        seed in proptest::collection::vec((0..3u8, 0..10u8), 0..8),
    ) {
        let mut world = World::default();
        world.apply(&sources, &plan(&world.facts(&sources)), None);
        let later = mutate(&sources, &seed);
        let listed: BTreeSet<&str> =
            later.iter().flat_map(|s| s.listing.present()).map(|i| i.href.as_str()).collect();
        for step in plan(&world.facts(&later)) {
            if let Step::Delete { source_href, .. } = step {
                prop_assert!(!listed.contains(source_href.as_str()));
            }
        }
    }
}
