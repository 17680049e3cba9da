//! The plain facts a DAV pass plans over: what each side lists and what the ledger knows.
//! No IO here; [`crate::observe`] fills them, [`crate::plan`] reads them.

pub use cutover_store::{DavIntent, DavRecord};

/// Calendars (events and tasks) or address books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CollectionKind {
    Calendar,
    AddressBook,
}

impl std::fmt::Display for CollectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Calendar => "calendar",
            Self::AddressBook => "address book",
        })
    }
}

/// What a collection shows its users, copied onto the target's new collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionProps {
    pub display_name: Option<String>,
    pub colour: Option<String>,
    pub description: Option<String>,
    /// A calendar's supported components (`VEVENT`, `VTODO`, ...); empty: not advertised.
    pub components: Vec<String>,
}

/// One item as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ItemRef {
    pub href: String,
    pub etag: String,
}

/// How much of a source collection's contents a pass knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceListing {
    /// Every item of the collection: one it lacks is gone from the source.
    Complete(Vec<ItemRef>),
    /// What changed since a sync token (RFC 6578): new or changed items, and the hrefs
    /// the server reported removed. Items it does not name are unchanged.
    Delta {
        changed: Vec<ItemRef>,
        removed: Vec<String>,
    },
    /// A listing that did not finish: what it holds is copied, nothing is removed.
    Partial(Vec<ItemRef>),
}

impl SourceListing {
    /// The items the listing shows present.
    pub fn present(&self) -> &[ItemRef] {
        match self {
            Self::Complete(items) | Self::Partial(items) => items,
            Self::Delta { changed, .. } => changed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCollection {
    /// The collection's href, ending in `/`.
    pub href: String,
    pub kind: CollectionKind,
    pub props: CollectionProps,
    pub listing: SourceListing,
}

/// A target collection and every item in it (the target's listing is always complete:
/// it is only read to find the items the ledger put there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetCollection {
    pub href: String,
    pub kind: CollectionKind,
    pub items: Vec<ItemRef>,
}

/// Where the target keeps a user's calendars and address books (their home sets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHomes {
    pub calendars: String,
    pub address_books: String,
}

impl TargetHomes {
    pub fn for_kind(&self, kind: CollectionKind) -> &str {
        match kind {
            CollectionKind::Calendar => &self.calendars,
            CollectionKind::AddressBook => &self.address_books,
        }
    }
}

/// One user's facts on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavFacts {
    pub sources: Vec<SourceCollection>,
    pub targets: Vec<TargetCollection>,
    pub homes: TargetHomes,
    pub records: Vec<DavRecord>,
    pub intents: Vec<DavIntent>,
}

/// The last segment of an href, without its trailing `/` (`/a/b/` -> `b`, `/a/c.ics` ->
/// `c.ics`). Hrefs come percent-encoded from libdav, so the segment is safe to reuse.
pub fn last_segment(href: &str) -> &str {
    href.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// Where a source collection goes: the same name in the target's home set of its kind.
pub fn target_collection_href(homes: &TargetHomes, kind: CollectionKind, source: &str) -> String {
    let home = homes.for_kind(kind).trim_end_matches('/');
    format!("{home}/{}/", last_segment(source))
}

/// Where a source collection goes among the source's others: as
/// [`target_collection_href`], except on a target that keeps calendars and address books in
/// one home (Radicale) for an address book named as one of the source's calendars (Cyrus
/// names its default calendar and address book both `Default`): it goes to
/// `NAME-contacts`, so that neither is left out.
pub fn target_collection_href_among(
    homes: &TargetHomes,
    kind: CollectionKind,
    source: &str,
    source_calendar_names: &[&str],
) -> String {
    let one_home =
        homes.calendars.trim_end_matches('/') == homes.address_books.trim_end_matches('/');
    let name = last_segment(source);
    if one_home && kind == CollectionKind::AddressBook && source_calendar_names.contains(&name) {
        let home = homes.address_books.trim_end_matches('/');
        return format!("{home}/{name}-contacts/");
    }
    target_collection_href(homes, kind, source)
}

/// The last segments of the source's calendars, for [`target_collection_href_among`].
pub fn calendar_names(sources: &[SourceCollection]) -> Vec<&str> {
    sources
        .iter()
        .filter(|s| s.kind == CollectionKind::Calendar)
        .map(|s| last_segment(&s.href))
        .collect()
}

/// Where a source item goes inside its target collection: the same resource name.
pub fn target_item_href(target_collection: &str, source_href: &str) -> String {
    format!(
        "{}/{}",
        target_collection.trim_end_matches('/'),
        last_segment(source_href)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_keep_the_source_names() {
        let homes = TargetHomes {
            calendars: "/dav/u/".into(),
            address_books: "/card/u".into(),
        };
        let source = SourceCollection {
            href: "/u/work%20cal/".into(),
            kind: CollectionKind::AddressBook,
            props: CollectionProps::default(),
            listing: SourceListing::Complete(vec![]),
        };
        assert_eq!(
            target_collection_href(&homes, source.kind, &source.href),
            "/card/u/work%20cal/"
        );
        assert_eq!(
            target_item_href("/card/u/work%20cal/", "/u/work%20cal/x.vcf"),
            "/card/u/work%20cal/x.vcf"
        );
    }

    #[test]
    fn an_address_book_named_as_a_calendar_gets_its_own_name_on_a_one_home_target() {
        let one = TargetHomes {
            calendars: "/ann/".into(),
            address_books: "/ann".into(),
        };
        let book = CollectionKind::AddressBook;
        let cal = CollectionKind::Calendar;
        let names = ["Default", "work"];
        assert_eq!(
            target_collection_href_among(&one, book, "/s/books/Default/", &names),
            "/ann/Default-contacts/"
        );
        assert_eq!(
            target_collection_href_among(&one, cal, "/s/cals/Default/", &names),
            "/ann/Default/"
        );
        assert_eq!(
            target_collection_href_among(&one, book, "/s/books/friends/", &names),
            "/ann/friends/"
        );
        // two homes: no clash to avoid
        let two = TargetHomes {
            calendars: "/cal/ann/".into(),
            address_books: "/card/ann/".into(),
        };
        assert_eq!(
            target_collection_href_among(&two, book, "/s/books/Default/", &names),
            "/card/ann/Default/"
        );
    }
}
