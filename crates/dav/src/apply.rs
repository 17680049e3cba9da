//! The only writer: runs the plan's steps against the target and the ledger. An intent
//! is in the store before each PUT and the record after it; a PUT that the target
//! refuses makes a skipped item with the server's answer as its reason.

use cutover_model::SkippedKind;
use cutover_store::{DavIntent, DavItemKind, DavRecord, DavStore};
use libdav::caldav::{CalendarComponent, CreateCalendar};
use libdav::carddav::CreateAddressBook;
use libdav::dav::{Delete, GetEtag, PutResource, SetProperty, WebDavError};
use libdav::names;

use cutover_sync::test_hooks::{PausePoint, reached};

use crate::client::{DavError, DavSession};
use crate::facts::{CollectionKind, CollectionProps};
use crate::item;
use crate::plan::Step;

/// What one pass did, counted by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub collections_created: u64,
    pub copied: Counts,
    pub updated: u64,
    pub deleted: u64,
    /// Items removed from the source between its listing and their GET.
    pub vanished: u64,
    /// (source href, reason): items not copied this pass.
    pub skipped: Vec<(String, String)>,
    /// (target collection, property, the target's answer): collection properties the
    /// target refused to keep (Xandikos 0.2.8 cannot set descriptions).
    pub properties_not_kept: Vec<(String, String, String)>,
}

/// Items copied, by what they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub events: u64,
    pub tasks: u64,
    pub contacts: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Dav(#[from] DavError),
    #[error("writing the DAV ledger: {0}")]
    Store(#[from] cutover_store::StoreError),
}

pub async fn apply(
    source: &DavSession,
    target: &DavSession,
    store: &dyn DavStore,
    user: &str,
    steps: &[Step],
    kind_of_collection: impl Fn(&str) -> CollectionKind,
) -> Result<Applied, ApplyError> {
    let mut applied = Applied::default();
    for step in steps {
        match step {
            Step::RecordLanded {
                intent,
                target_etag,
            } => {
                store
                    .dav_record(user, &record(intent, target_etag.clone()))
                    .await?;
            }
            Step::DropIntent { intent } => {
                store.dav_drop_intent(user, &intent.source_href).await?;
            }
            Step::CreateCollection {
                href, kind, props, ..
            } => {
                create_collection(target, href, *kind, props, &mut applied).await?;
                applied.collections_created += 1;
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
                let kind = kind_of_collection(source_collection);
                let fetched = match source.fetch(kind, source_href).await {
                    Ok(fetched) => fetched,
                    Err(e @ DavError::TooLarge { .. }) => {
                        let reason = e.to_string();
                        skip(store, user, &mut applied, source_href, LARGE, reason).await?;
                        continue;
                    }
                    Err(e @ DavError::NotText { .. }) => {
                        skip(store, user, &mut applied, source_href, BAD, e.to_string()).await?;
                        continue;
                    }
                    // removed from the source since it was listed: the next listing says so
                    Err(DavError::Status { status, .. })
                        if status == http::StatusCode::NOT_FOUND
                            || status == http::StatusCode::GONE =>
                    {
                        applied.vanished += 1;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                let uid = match item::uid(&fetched.body) {
                    Ok(uid) => uid,
                    Err(e) => {
                        skip(store, user, &mut applied, source_href, BAD, e.to_string()).await?;
                        continue;
                    }
                };
                let intent = DavIntent {
                    source_collection: source_collection.clone(),
                    source_href: source_href.clone(),
                    source_etag: fetched.etag.clone(),
                    uid,
                    target_collection: target_collection.clone(),
                    target_href: target_href.clone(),
                    kind: item_kind(kind, &fetched.body),
                };
                store.dav_begin(user, &intent).await?;
                reached(PausePoint::DavAfterIntent);
                let put = match step {
                    Step::Update { if_match, .. } => {
                        target
                            .webdav(kind)
                            .request(PutResource::new(target_href).update(
                                fetched.body.clone(),
                                fetched.content_type.clone(),
                                if_match.clone(),
                            ))
                            .await
                    }
                    _ => {
                        target
                            .webdav(kind)
                            .request(
                                PutResource::new(target_href)
                                    .create(fetched.body.clone(), fetched.content_type.clone()),
                            )
                            .await
                    }
                };
                let etag = match put {
                    Ok(response) => {
                        reached(PausePoint::DavAfterPut);
                        response.etag
                    }
                    Err(WebDavError::BadStatusCode(status)) if status.is_client_error() => {
                        // the target refuses the item (invalid, too large, a UID taken)
                        store.dav_drop_intent(user, source_href).await?;
                        let reason = format!("the target answered {status} to its PUT");
                        // 413: the item is over the target's size limit
                        let kind = if status == http::StatusCode::PAYLOAD_TOO_LARGE {
                            LARGE
                        } else {
                            BAD
                        };
                        skip(store, user, &mut applied, source_href, kind, reason).await?;
                        continue;
                    }
                    Err(WebDavError::PreconditionFailed(precondition)) => {
                        store.dav_drop_intent(user, source_href).await?;
                        let reason = format!("the target refused it: {precondition:?}");
                        skip(store, user, &mut applied, source_href, BAD, reason).await?;
                        continue;
                    }
                    Err(e) => return Err(target.error(format!("PUT {target_href}"), e).into()),
                };
                let etag = match etag {
                    Some(etag) => etag,
                    // a server that does not say: ask it
                    None => target
                        .webdav(kind)
                        .request(GetEtag::new(target_href))
                        .await
                        .map(|r| r.etag)
                        .unwrap_or_default(),
                };
                store.dav_record(user, &record(&intent, etag)).await?;
                if matches!(step, Step::Update { .. }) {
                    applied.updated += 1;
                } else {
                    count(&mut applied.copied, intent.kind);
                }
            }
            Step::Delete {
                source_href,
                target_href,
                if_match,
            } => {
                let deleted = target
                    .caldav()
                    .request(Delete::new(target_href).with_etag(if_match.clone()))
                    .await;
                match deleted {
                    Ok(_) => {
                        store.dav_forget(user, source_href).await?;
                        applied.deleted += 1;
                    }
                    Err(WebDavError::BadStatusCode(status))
                        if status == http::StatusCode::NOT_FOUND =>
                    {
                        store.dav_forget(user, source_href).await?;
                    }
                    Err(e) => {
                        // changed on the target since it was listed: kept this pass
                        applied.skipped.push((
                            source_href.clone(),
                            format!("not deleted from the target: {e}"),
                        ));
                    }
                }
            }
            Step::Forget { source_href } => store.dav_forget(user, source_href).await?,
            Step::Skip { source, reason } => {
                skip(store, user, &mut applied, source, BAD, reason.to_string()).await?;
            }
        }
    }
    Ok(applied)
}

const BAD: SkippedKind = SkippedKind::BadItem;
const LARGE: SkippedKind = SkippedKind::LargeItem;

/// An item (or collection) not copied: counted in this pass and kept in the store.
async fn skip(
    store: &dyn DavStore,
    user: &str,
    applied: &mut Applied,
    source_href: &str,
    kind: SkippedKind,
    reason: String,
) -> Result<(), ApplyError> {
    store.dav_skip(user, source_href, kind, &reason).await?;
    applied.skipped.push((source_href.to_string(), reason));
    Ok(())
}

fn record(intent: &DavIntent, target_etag: String) -> DavRecord {
    DavRecord {
        source_collection: intent.source_collection.clone(),
        source_href: intent.source_href.clone(),
        source_etag: intent.source_etag.clone(),
        uid: intent.uid.clone(),
        target_collection: intent.target_collection.clone(),
        target_href: intent.target_href.clone(),
        target_etag,
        kind: intent.kind,
    }
}

/// What an item is: a contact in an address book, a task or an event in a calendar.
fn item_kind(kind: CollectionKind, body: &str) -> DavItemKind {
    match kind {
        CollectionKind::AddressBook => DavItemKind::Contact,
        CollectionKind::Calendar if item::is_task(body) => DavItemKind::Task,
        CollectionKind::Calendar => DavItemKind::Event,
    }
}

fn count(counts: &mut Counts, kind: DavItemKind) {
    match kind {
        DavItemKind::Contact => counts.contacts += 1,
        DavItemKind::Task => counts.tasks += 1,
        DavItemKind::Event => counts.events += 1,
    }
}

async fn create_collection(
    target: &DavSession,
    href: &str,
    kind: CollectionKind,
    props: &CollectionProps,
    applied: &mut Applied,
) -> Result<(), DavError> {
    let what = || format!("creating {href}");
    match kind {
        CollectionKind::Calendar => {
            let components: Vec<CalendarComponent> = props
                .components
                .iter()
                .map(|c| match c.to_ascii_uppercase().as_str() {
                    "VEVENT" => CalendarComponent::VEvent,
                    "VTODO" => CalendarComponent::VTodo,
                    "VJOURNAL" => CalendarComponent::VJournal,
                    "VFREEBUSY" => CalendarComponent::VFreeBusy,
                    "VAVAILABILITY" => CalendarComponent::VAvailability,
                    _ => CalendarComponent::Other(c.clone()),
                })
                .collect();
            let mut request = CreateCalendar::new(href);
            if let Some(name) = &props.display_name {
                request = request.with_display_name(name);
            }
            if let Some(colour) = &props.colour {
                request = request.with_colour(colour);
            }
            if !components.is_empty() {
                request = request.with_components(&components);
            }
            target
                .caldav()
                .request(request)
                .await
                .map_err(|e| target.error(what(), e))?;
            // Some servers (Xandikos) drop what MKCALENDAR sets beyond the name: set again.
            set_properties(
                target,
                href,
                &[
                    (&names::CALENDAR_COLOUR, props.colour.as_deref()),
                    (&names::CALENDAR_DESCRIPTION, props.description.as_deref()),
                ],
                applied,
            )
            .await?;
        }
        CollectionKind::AddressBook => {
            let mut request = CreateAddressBook::new(href);
            if let Some(name) = &props.display_name {
                request = request.with_display_name(name);
            }
            if let Some(description) = &props.description {
                request = request.with_description(description);
            }
            target
                .carddav()
                .request(request)
                .await
                .map_err(|e| target.error(what(), e))?;
            set_properties(
                target,
                href,
                &[(
                    &names::ADDRESSBOOK_DESCRIPTION,
                    props.description.as_deref(),
                )],
                applied,
            )
            .await?;
        }
    }
    Ok(())
}

async fn set_properties(
    target: &DavSession,
    href: &str,
    properties: &[(&libdav::PropertyName<'_, '_>, Option<&str>)],
    applied: &mut Applied,
) -> Result<(), DavError> {
    for (name, value) in properties {
        let Some(value) = value else { continue };
        match target
            .caldav()
            .request(SetProperty::new(href, name, Some(value)))
            .await
        {
            Ok(_) => {}
            // the target does not keep this property: the collection is still usable
            Err(WebDavError::BadStatusCode(status)) if status.is_client_error() => {
                applied.properties_not_kept.push((
                    href.to_string(),
                    name.name().to_string(),
                    format!("the target answered {status}"),
                ));
            }
            Err(e) => return Err(target.error(format!("setting {} of {href}", name.name()), e)),
        }
    }
    Ok(())
}
