//! Folder mapping: where each source folder goes on the target. A pure function over
//! both listings and the batch's rules, so every case is a unit test.
//!
//! In order of precedence, a source folder goes to:
//! 1. INBOX, if it is INBOX (any case);
//! 2. the admin's `--folder-map` entry naming it;
//! 3. the target's folder of the same special use (RFC 6154 `\Sent \Drafts \Trash \Junk
//!    \Archive`), found by attribute or, where a server has none, by a common name in
//!    English, French, German or Spanish;
//! 4. the same name, with the hierarchy separator translated.
//!
//! Subfolders follow their parent ("Sent Items/2019" -> "Sent/2019"). Two source folders
//! never share a target folder: the later one gets " (2)" (then " (3)", ...), so different
//! folders are never merged. `\All` (Gmail's "All Mail") and `\Flagged` (a virtual view)
//! are left out unless a folder-map entry names them: they repeat messages that other
//! folders hold.
//!
//! The mapping is also stable across passes: what one pass creates on the target does not
//! change where the next pass maps a folder (the property test checks it), so incremental
//! passes never split a folder in two.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use cutover_imap::MailboxName;
use cutover_model::FolderMapEntry;

/// A folder as listed by a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFolder {
    /// Wire name (modified UTF-7).
    pub name: Vec<u8>,
    pub selectable: bool,
    pub subscribed: bool,
    /// Its RFC 6154 attribute, when the server sent one.
    pub special_use: Option<SpecialUse>,
}

/// RFC 6154 special-use attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecialUse {
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
    Trash,
}

impl SpecialUse {
    /// The roles a source folder takes to the target's folder of the same role. `\All`
    /// and `\Flagged` are views over other folders, not places mail is filed.
    const MAPPED: [SpecialUse; 5] = [
        SpecialUse::Sent,
        SpecialUse::Drafts,
        SpecialUse::Trash,
        SpecialUse::Junk,
        SpecialUse::Archive,
    ];

    /// From one LIST attribute, case-insensitively. Gmail's older XLIST spellings
    /// (`\Spam`, `\AllMail`, `\Starred`) still come from some servers.
    pub fn from_attribute(attribute: &str) -> Option<SpecialUse> {
        let a = attribute.strip_prefix('\\')?.to_ascii_lowercase();
        Some(match a.as_str() {
            "all" | "allmail" => SpecialUse::All,
            "archive" => SpecialUse::Archive,
            "drafts" => SpecialUse::Drafts,
            "flagged" | "starred" => SpecialUse::Flagged,
            "junk" | "spam" => SpecialUse::Junk,
            "sent" => SpecialUse::Sent,
            "trash" => SpecialUse::Trash,
            _ => return None,
        })
    }

    /// The first special-use attribute among a LIST reply's attributes.
    pub fn from_attributes<'a>(attributes: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        attributes.into_iter().find_map(SpecialUse::from_attribute)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    /// Names clients and servers give the folder when they set no attribute, most usual
    /// first (the first match on a side wins the role). English (Exchange, Outlook,
    /// Thunderbird, Apple Mail, Gmail), French, German and Spanish.
    fn common_names(self) -> &'static [&'static str] {
        match self {
            SpecialUse::Sent => &[
                "Sent",
                "Sent Items",
                "Sent Messages",
                "Sent Mail",
                "Envoyés",
                "Éléments envoyés",
                "Messages envoyés",
                "Gesendet",
                "Gesendete Objekte",
                "Gesendete Elemente",
                "Gesendete Nachrichten",
                "Enviados",
                "Elementos enviados",
                "Mensajes enviados",
            ],
            SpecialUse::Drafts => &["Drafts", "Draft", "Brouillons", "Entwürfe", "Borradores"],
            SpecialUse::Trash => &[
                "Trash",
                "Deleted Items",
                "Deleted Messages",
                "Deleted",
                "Bin",
                "Corbeille",
                "Éléments supprimés",
                "Messages supprimés",
                "Papierkorb",
                "Gelöschte Objekte",
                "Gelöschte Elemente",
                "Papelera",
                "Elementos eliminados",
                "Elementos borrados",
                "Eliminados",
            ],
            SpecialUse::Junk => &[
                "Junk",
                "Junk E-mail",
                "Junk Email",
                "Junk Mail",
                "Spam",
                "Courrier indésirable",
                "Indésirables",
                "Pourriel",
                "Junk-E-Mail",
                "Unerwünscht",
                "Correo no deseado",
                "Correo basura",
                "No deseado",
            ],
            SpecialUse::Archive => &["Archive", "Archives", "Archiv", "Archivo", "Archivos"],
            SpecialUse::All | SpecialUse::Flagged => &[],
        }
    }

    /// The role and rank of a (decoded) folder name, case-insensitively.
    fn by_name(display: &str) -> Option<(SpecialUse, usize)> {
        let lower = display.to_lowercase();
        SpecialUse::MAPPED.into_iter().find_map(|role| {
            role.common_names()
                .iter()
                .position(|n| n.to_lowercase() == lower)
                .map(|rank| (role, rank))
        })
    }
}

/// Why a folder goes where it goes (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappedBy {
    /// Same name, separator translated (INBOX included).
    Name,
    /// The batch's folder map (the folder or a parent of it is named there).
    FolderMap,
    /// The target's folder of the same special use (the folder or a parent of it).
    SpecialUse(SpecialUse),
}

/// Where a source folder goes on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderMapping {
    pub src: Vec<u8>,
    pub dst: Vec<u8>,
    /// Whether messages can be in it (false for `\Noselect` parents).
    pub selectable: bool,
    pub subscribe: bool,
    /// Whether the target lacks it and it must be created.
    pub create: bool,
    pub mapped_by: MappedBy,
    /// The target name it would have had, when another source folder took that name
    /// first and this one got a " (n)" suffix instead.
    pub renamed_from: Option<Vec<u8>>,
}

/// The hierarchy separators of both sides (None: flat namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separators {
    pub source: Option<char>,
    pub target: Option<char>,
}

/// What the batch says about folders.
#[derive(Debug, Clone, Copy, Default)]
pub struct FolderRules<'a> {
    /// `--exclude-folders`: display names, '/' between levels.
    pub excluded: &'a [String],
    /// `--folder-map`.
    pub folder_map: &'a [FolderMapEntry],
    /// The target compares folder names without regard to case (Exchange, Microsoft 365):
    /// there "Projects" and "projects" are one folder, so the second source folder gets
    /// " (2)". Elsewhere (Dovecot, Cyrus) they are two and keep their names. INBOX is
    /// case-insensitive everywhere.
    pub target_folds_case: bool,
}

/// Character that replaces the target's separator inside a source name component,
/// so that "Reports.2024" does not become a "2024" child of "Reports" on a '.' server.
const SEPARATOR_STAND_IN: u8 = b'_';

/// Translates a source wire name to the target's hierarchy.
pub fn map_name(src: &[u8], seps: Separators) -> Vec<u8> {
    if is_inbox(src) {
        return b"INBOX".to_vec();
    }
    join(&split(src, seps.source), ascii(seps.target))
}

pub fn is_inbox(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"INBOX")
}

/// Whether a folder is excluded: by display name, case-insensitively, with its
/// subfolders. Admins write '/' between levels whatever the server's separator is.
pub fn is_excluded(display: &str, separator: Option<char>, excluded: &[String]) -> bool {
    let name = match separator {
        Some(sep) if sep != '/' => display.replace(sep, "/"),
        _ => display.to_string(),
    }
    .to_lowercase();
    excluded.iter().any(|ex| {
        let ex = ex.trim().trim_matches('/').to_lowercase();
        !ex.is_empty() && (name == ex || name.starts_with(&format!("{ex}/")))
    })
}

fn ascii(sep: Option<char>) -> Option<u8> {
    sep.filter(char::is_ascii).map(|c| c as u8)
}

fn split(name: &[u8], sep: Option<char>) -> Vec<&[u8]> {
    match ascii(sep) {
        Some(s) => name.split(|b| *b == s).collect(),
        None => vec![name],
    }
}

/// Joins components with the target's separator; a separator inside a component becomes
/// the stand-in, and without a target separator the levels are flattened with it.
/// A leading "inbox" level is spelled INBOX, as servers expect.
fn join(parts: &[&[u8]], target_sep: Option<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 && is_inbox(part) {
            out.extend_from_slice(b"INBOX");
        } else {
            push_level(&mut out, i > 0, part, target_sep);
        }
    }
    out
}

/// Appends one level, after a separator if it is not the first.
fn push_level(out: &mut Vec<u8>, after: bool, part: &[u8], target_sep: Option<u8>) {
    if after {
        out.push(target_sep.unwrap_or(SEPARATOR_STAND_IN));
    }
    out.extend(part.iter().map(|b| {
        if Some(*b) == target_sep {
            SEPARATOR_STAND_IN
        } else {
            *b
        }
    }));
}

fn display(wire: &[u8]) -> String {
    MailboxName::from_wire(wire.to_vec()).to_display()
}

/// Whether a listing proves the server keeps names apart by case: two folders (not
/// INBOX) whose names differ only in case.
pub fn has_case_twins(names: &[&[u8]]) -> bool {
    let mut seen = HashSet::new();
    names
        .iter()
        .filter(|n| !is_inbox(n))
        .any(|n| !seen.insert(n.to_ascii_lowercase()))
}

/// The name with the case of its ASCII letters swapped, when it has any (the probe of a
/// server's case rule: does it answer for "sENT" as for "Sent"?). The letters of
/// modified UTF-7 runs (`&...-`) are left alone: they encode other characters.
pub fn case_swapped(name: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len());
    let (mut in_utf7, mut changed) = (false, false);
    for &b in name {
        let c = if in_utf7 {
            if b == b'-' {
                in_utf7 = false;
            }
            b
        } else if b == b'&' {
            in_utf7 = true;
            b
        } else if b.is_ascii_alphabetic() {
            changed = true;
            b ^ 0x20
        } else {
            b
        };
        out.push(c);
    }
    changed.then_some(out)
}

/// A name as the admin types it: decoded, '/' between levels, lower-cased (the folder
/// map and exclusions are matched without regard to case, and so is INBOX).
fn key_of(parts: &[&[u8]]) -> String {
    raw_key(parts).to_lowercase()
}

/// A name decoded, '/' between levels, its case kept.
fn raw_key(parts: &[&[u8]]) -> String {
    parts
        .iter()
        .map(|p| display(p))
        .collect::<Vec<_>>()
        .join("/")
}

/// A source or target folder with its name taken apart.
struct Parsed<'a> {
    folder: &'a ListedFolder,
    parts: Vec<&'a [u8]>,
    /// `key_of` each prefix: `prefixes[k]` names `parts[..=k]`.
    prefixes: Vec<String>,
    /// Where each prefix ends in the wire name: `parts[..=k]` is `name[..ends[k]]`.
    ends: Vec<usize>,
}

impl<'a> Parsed<'a> {
    fn new(folder: &'a ListedFolder, sep: Option<char>) -> Self {
        let parts = split(&folder.name, sep);
        let prefixes = (1..=parts.len()).map(|k| key_of(&parts[..k])).collect();
        // Levels are separated by one (ASCII) separator byte.
        let ends = parts
            .iter()
            .enumerate()
            .scan(0, |len, (k, p)| {
                *len += p.len();
                Some(*len + k)
            })
            .collect();
        Parsed {
            folder,
            parts,
            prefixes,
            ends,
        }
    }

    fn wire_prefix(&self, k: usize) -> &[u8] {
        &self.folder.name[..self.ends[k]]
    }

    fn key(&self) -> &str {
        self.prefixes.last().map_or("", String::as_str)
    }

    fn is_inbox(&self) -> bool {
        is_inbox(&self.folder.name)
    }

    /// Where servers keep special folders: top level, or under INBOX (Courier, Cyrus and
    /// others with an "INBOX." prefix).
    fn role_by_name(&self) -> Option<(SpecialUse, usize)> {
        let leaf = match self.parts.as_slice() {
            [leaf] => leaf,
            [inbox, leaf] if is_inbox(inbox) => leaf,
            _ => return None,
        };
        SpecialUse::by_name(&display(leaf))
    }
}

/// The target name of an admin's display name: each level in modified UTF-7.
fn encode_target(name: &str, target_sep: Option<u8>) -> Vec<u8> {
    let encoded: Vec<Vec<u8>> = name
        .split('/')
        .map(|level| MailboxName::from_display(level.trim()).as_bytes().to_vec())
        .collect();
    let parts: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    join(&parts, target_sep)
}

/// A target name a source subtree goes to.
#[derive(Clone)]
struct Root {
    dst: Vec<u8>,
    mapped_by: MappedBy,
}

/// The source subtrees that do not simply keep their names.
#[derive(Clone, Default)]
struct Roots {
    /// By source wire name: special-use holders and every folder already named (so
    /// subfolders follow a renamed parent). Exact, as "Foo" and "foo" are two folders.
    exact: BTreeMap<Vec<u8>, Root>,
    /// By `key_of`: the admin's folder map (typed by hand, case-insensitive) and INBOX.
    by_key: BTreeMap<String, Root>,
}

impl Roots {
    fn get(&self, f: &Parsed, k: usize) -> Option<&Root> {
        self.exact
            .get(f.wire_prefix(k))
            .or_else(|| self.by_key.get(&f.prefixes[k]))
    }
}

/// The name a folder wants: under the root of its nearest re-rooted ancestor (or itself),
/// else its own name translated.
fn wanted(f: &Parsed, roots: &Roots, target_sep: Option<u8>) -> Root {
    for k in (0..f.parts.len()).rev() {
        if let Some(root) = roots.get(f, k) {
            let mut dst = root.dst.clone();
            for part in &f.parts[k + 1..] {
                push_level(&mut dst, true, part, target_sep);
            }
            return Root {
                dst,
                mapped_by: root.mapped_by,
            };
        }
    }
    Root {
        dst: join(&f.parts, target_sep),
        mapped_by: MappedBy::Name,
    }
}

/// A \Noselect parent is only there to hold its subfolders; one whose subfolders all
/// went elsewhere (or were excluded) would be an empty folder the user never had.
fn prune_empty_parents(out: &mut Vec<FolderMapping>, target_sep: Option<u8>) {
    loop {
        let holds_something = |m: &FolderMapping| {
            target_sep.is_some_and(|s| {
                let mut prefix = m.dst.clone();
                prefix.push(s);
                out.iter().any(|o| o.dst.starts_with(&prefix))
            })
        };
        let Some(i) = out
            .iter()
            .position(|m| !m.selectable && !holds_something(m))
        else {
            return;
        };
        out.remove(i);
    }
}

/// Maps every source folder to the target.
pub fn plan_folders(
    source: &[ListedFolder],
    target: &[ListedFolder],
    seps: Separators,
    rules: FolderRules<'_>,
) -> Vec<FolderMapping> {
    let tsep = ascii(seps.target);
    // Target names compare as the target compares them.
    let dst_key = |dst: &[u8]| {
        let parts = split(dst, seps.target);
        if rules.target_folds_case || is_inbox(dst) {
            key_of(&parts)
        } else {
            raw_key(&parts)
        }
    };

    // The admin's map; the first entry for a folder wins.
    let mut explicit: BTreeMap<String, Root> = BTreeMap::new();
    for e in rules.folder_map {
        let key = e.source.trim().trim_matches('/').to_lowercase();
        if key != "inbox" {
            explicit.entry(key).or_insert(Root {
                dst: encode_target(&e.target, tsep),
                mapped_by: MappedBy::FolderMap,
            });
        }
    }

    // The source folders that take part, each once, in name order (the tie-breaker of
    // every choice below, so listing order never matters).
    let mut sorted: Vec<&ListedFolder> = source.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen = HashSet::new();
    let src: Vec<Parsed> = sorted
        .into_iter()
        .filter(|f| {
            seen.insert(if is_inbox(&f.name) {
                b"INBOX".to_vec()
            } else {
                f.name.clone()
            })
        })
        .map(|f| Parsed::new(f, seps.source))
        .filter(|f| {
            if is_excluded(&display(&f.folder.name), seps.source, rules.excluded) {
                return false;
            }
            // Views over other folders: copying them would duplicate every message.
            let view = matches!(
                f.folder.special_use,
                Some(SpecialUse::All | SpecialUse::Flagged)
            );
            !view || explicit.contains_key(f.key())
        })
        .collect();
    let under_explicit = |f: &Parsed| f.prefixes.iter().any(|p| explicit.contains_key(p));

    // The source folder holding each role: by attribute, else by its common name.
    let mut holders: BTreeMap<SpecialUse, usize> = BTreeMap::new();
    for role in SpecialUse::MAPPED {
        let eligible = |f: &&Parsed| !f.is_inbox() && !under_explicit(f);
        let by_attribute = src
            .iter()
            .enumerate()
            .filter(|(_, f)| eligible(f))
            .find(|(_, f)| f.folder.special_use == Some(role));
        let by_name = || {
            src.iter()
                .enumerate()
                .filter(|(_, f)| eligible(f) && f.folder.special_use.is_none())
                .filter_map(|(i, f)| match f.role_by_name() {
                    Some((r, rank)) if r == role => Some((rank, i)),
                    _ => None,
                })
                .min()
                .map(|(_, i)| i)
        };
        if let Some(i) = by_attribute.map(|(i, _)| i).or_else(by_name) {
            holders.insert(role, i);
        }
    }

    // Where each source folder would go without special-use mapping: a target folder
    // another source folder goes to is never taken as the role folder, which keeps the
    // next pass (seeing what this one created) from changing its mind.
    let mut base_roots = Roots {
        exact: BTreeMap::new(),
        by_key: explicit.clone(),
    };
    base_roots.by_key.insert(
        "inbox".into(),
        Root {
            dst: b"INBOX".to_vec(),
            mapped_by: MappedBy::Name,
        },
    );
    let plain: Vec<String> = src
        .iter()
        .map(|f| dst_key(&wanted(f, &base_roots, tsep).dst))
        .collect();

    // The target folder of each role the source holds.
    let mut tgt: Vec<Parsed> = target
        .iter()
        .filter(|f| !is_inbox(&f.name))
        .map(|f| Parsed::new(f, seps.target))
        .collect();
    tgt.sort_by(|a, b| a.folder.name.cmp(&b.folder.name));
    let mut roots = base_roots;
    for (&role, &holder) in &holders {
        let by_attribute = tgt.iter().find(|t| t.folder.special_use == Some(role));
        let by_name = || {
            let claimed: BTreeSet<&str> = plain
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != holder)
                .map(|(_, k)| k.as_str())
                .collect();
            let candidates: Vec<(usize, &Parsed)> = tgt
                .iter()
                .filter(|t| {
                    t.folder.special_use.is_none()
                        && !claimed.contains(dst_key(&t.folder.name).as_str())
                })
                .filter_map(|t| match t.role_by_name() {
                    Some((r, rank)) if r == role => Some((rank, t)),
                    _ => None,
                })
                .collect();
            // The holder's own name first: it is where earlier passes put its mail.
            candidates
                .iter()
                .find(|(_, t)| dst_key(&t.folder.name) == plain[holder])
                .or_else(|| candidates.iter().min_by_key(|(rank, _)| *rank))
                .map(|(_, t)| *t)
        };
        if let Some(t) = by_attribute.or_else(by_name) {
            roots.exact.insert(
                src[holder].folder.name.clone(),
                Root {
                    dst: t.folder.name.clone(),
                    mapped_by: MappedBy::SpecialUse(role),
                },
            );
        }
    }

    // Names: parents before children, so a renamed parent takes its subfolders along;
    // at one depth INBOX, then the folder map, then special use, then the rest.
    let desired: BTreeSet<String> = src
        .iter()
        .map(|f| dst_key(&wanted(f, &roots, tsep).dst))
        .collect();
    let class = |f: &Parsed| match roots.get(f, f.parts.len() - 1).map(|r| r.mapped_by) {
        _ if f.is_inbox() => 0,
        Some(MappedBy::FolderMap) => 1,
        Some(MappedBy::SpecialUse(_)) => 2,
        _ => 3,
    };
    let mut order: Vec<usize> = (0..src.len()).collect();
    order.sort_by_key(|&i| (src[i].parts.len(), class(&src[i]), &src[i].folder.name));
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut out: Vec<FolderMapping> = Vec::with_capacity(src.len());
    for i in order {
        let f = &src[i];
        let want = wanted(f, &roots, tsep);
        let mut dst = want.dst.clone();
        let mut renamed_from = None;
        if !taken.insert(dst_key(&dst)) {
            for n in 2.. {
                let mut candidate = want.dst.clone();
                candidate.extend_from_slice(format!(" ({n})").as_bytes());
                let key = dst_key(&candidate);
                if !desired.contains(&key) && taken.insert(key) {
                    dst = candidate;
                    break;
                }
            }
            renamed_from = Some(want.dst);
        }
        roots.exact.insert(
            f.folder.name.clone(),
            Root {
                dst: dst.clone(),
                mapped_by: want.mapped_by,
            },
        );
        out.push(FolderMapping {
            src: f.folder.name.clone(),
            dst,
            selectable: f.folder.selectable,
            subscribe: f.folder.subscribed,
            create: false,
            mapped_by: want.mapped_by,
            renamed_from,
        });
    }

    prune_empty_parents(&mut out, tsep);
    let existing: HashSet<Vec<u8>> = target
        .iter()
        .map(|f| {
            if is_inbox(&f.name) {
                b"INBOX".to_vec()
            } else {
                f.name.clone()
            }
        })
        .collect();
    for m in &mut out {
        m.create = !is_inbox(&m.dst) && !existing.contains(&m.dst);
    }
    // INBOX first, then parents before children (by target levels).
    out.sort_by(|a, b| {
        let levels = |m: &FolderMapping| {
            (
                !is_inbox(&m.dst),
                split(&m.dst, seps.target)
                    .into_iter()
                    .map(<[u8]>::to_vec)
                    .collect::<Vec<_>>(),
            )
        };
        levels(a).cmp(&levels(b))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SLASH: Separators = Separators {
        source: Some('/'),
        target: Some('/'),
    };
    const TO_DOT: Separators = Separators {
        source: Some('/'),
        target: Some('.'),
    };

    /// A folder by display name ('/' between levels), encoded as a server would list it.
    fn folder(display: &str, sep: char) -> ListedFolder {
        let name = display
            .split('/')
            .map(|l| String::from_utf8(MailboxName::from_display(l).as_bytes().to_vec()).unwrap())
            .collect::<Vec<_>>()
            .join(&sep.to_string());
        ListedFolder {
            name: name.into_bytes(),
            selectable: true,
            subscribed: true,
            special_use: None,
        }
    }

    fn with(mut f: ListedFolder, special_use: SpecialUse) -> ListedFolder {
        f.special_use = Some(special_use);
        f
    }

    fn src(names: &[&str]) -> Vec<ListedFolder> {
        names.iter().map(|n| folder(n, '/')).collect()
    }

    fn dst(names: &[&str]) -> Vec<ListedFolder> {
        names.iter().map(|n| folder(n, '.')).collect()
    }

    /// (source display, target display) pairs, target levels shown with '/'.
    fn plan(
        source: &[ListedFolder],
        target: &[ListedFolder],
        seps: Separators,
        rules: FolderRules,
    ) -> Vec<(String, String)> {
        plan_folders(source, target, seps, rules)
            .iter()
            .map(|m| {
                let show = |wire: &[u8], sep: Option<char>| {
                    split(wire, sep)
                        .iter()
                        .map(|p| display(p))
                        .collect::<Vec<_>>()
                        .join("/")
                };
                (show(&m.src, seps.source), show(&m.dst, seps.target))
            })
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        v.sort();
        v
    }

    fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
        v.sort();
        v
    }

    #[test]
    fn names_follow_the_target_separator() {
        assert_eq!(map_name(b"Archive/2024", TO_DOT), b"Archive.2024");
        // The target's separator inside a component must not create a level.
        assert_eq!(map_name(b"Reports.2024", TO_DOT), b"Reports_2024");
        assert_eq!(map_name(b"Reports.2024", SLASH), b"Reports.2024");
        let to_slash = Separators {
            source: Some('.'),
            target: Some('/'),
        };
        assert_eq!(map_name(b"a/b.c", to_slash), b"a_b/c");
        assert_eq!(map_name(b"inbox", to_slash), b"INBOX");
        assert_eq!(map_name(b"inbox.x", to_slash), b"INBOX/x");
        let flat = Separators {
            source: Some('/'),
            target: None,
        };
        assert_eq!(map_name(b"a/b", flat), b"a_b");
        // mUTF-7 is carried as it is.
        assert_eq!(
            map_name(b"&AMk-l&AOk-ments envoy&AOk-s", SLASH),
            b"&AMk-l&AOk-ments envoy&AOk-s"
        );
    }

    #[test]
    fn folders_to_create_and_exclusions() {
        let mut source = src(&[
            "INBOX",
            "Archive",
            "Archive/2024",
            "Junk",
            "Junk/Old",
            "Sent",
        ]);
        source[1].selectable = false;
        let target = src(&["INBOX", "Sent"]);
        let excluded = ["junk".to_string()];
        let rules = FolderRules {
            excluded: &excluded,
            folder_map: &[],
            ..FolderRules::default()
        };
        let plan = plan_folders(&source, &target, SLASH, rules);
        let names: Vec<(&[u8], bool)> = plan.iter().map(|m| (&m.dst[..], m.create)).collect();
        assert_eq!(
            names,
            vec![
                (&b"INBOX"[..], false),
                (&b"Archive"[..], true),
                (&b"Archive/2024"[..], true),
                (&b"Sent"[..], false)
            ]
        );
        assert!(!plan[1].selectable);
    }

    #[test]
    fn exclusion_matches_subfolders_only_at_a_separator() {
        let ex = vec!["Archive".to_string()];
        assert!(is_excluded("Archive", Some('/'), &ex));
        assert!(is_excluded("archive/2024", Some('/'), &ex));
        assert!(!is_excluded("Archives", Some('/'), &ex));
        assert!(is_excluded(
            "Archive.2024",
            Some('.'),
            &["Archive/2024".into()]
        ));
    }

    #[test]
    fn special_use_attributes_map_across_names() {
        let source = vec![
            folder("INBOX", '/'),
            with(folder("Sent Items", '/'), SpecialUse::Sent),
            with(folder("Deleted Items", '/'), SpecialUse::Trash),
            with(folder("Brouillons", '/'), SpecialUse::Drafts),
            with(folder("Spam", '/'), SpecialUse::Junk),
            with(folder("Old", '/'), SpecialUse::Archive),
        ];
        let target = vec![
            with(folder("Gesendet", '.'), SpecialUse::Sent),
            with(folder("Bin", '.'), SpecialUse::Trash),
            with(folder("Entwürfe", '.'), SpecialUse::Drafts),
            with(folder("Junk", '.'), SpecialUse::Junk),
            with(folder("Archiv", '.'), SpecialUse::Archive),
        ];
        assert_eq!(
            sorted(plan(&source, &target, TO_DOT, FolderRules::default())),
            pairs(&[
                ("INBOX", "INBOX"),
                ("Sent Items", "Gesendet"),
                ("Deleted Items", "Bin"),
                ("Brouillons", "Entwürfe"),
                ("Spam", "Junk"),
                ("Old", "Archiv"),
            ])
        );
        let m = plan_folders(&source, &target, TO_DOT, FolderRules::default());
        let sent = m.iter().find(|m| m.src == b"Sent Items").unwrap();
        assert_eq!(sent.mapped_by, MappedBy::SpecialUse(SpecialUse::Sent));
        assert!(!sent.create);
    }

    #[test]
    fn localized_names_without_attributes_on_both_sides() {
        let source = src(&[
            "INBOX",
            "Éléments envoyés",
            "Gelöschte Objekte",
            "Junk E-mail",
            "Borradores",
            "Archives",
        ]);
        let target = dst(&["INBOX", "Sent", "Trash", "Junk", "Drafts"]);
        assert_eq!(
            sorted(plan(&source, &target, TO_DOT, FolderRules::default())),
            pairs(&[
                ("INBOX", "INBOX"),
                ("Éléments envoyés", "Sent"),
                ("Gelöschte Objekte", "Trash"),
                ("Junk E-mail", "Junk"),
                ("Borradores", "Drafts"),
                // The target has no archive folder: the name is kept.
                ("Archives", "Archives"),
            ])
        );
    }

    #[test]
    fn names_compare_case_insensitively_and_under_inbox() {
        let source = vec![
            folder("INBOX", '.'),
            folder("INBOX/sent items", '.'),
            folder("INBOX/Papierkorb", '.'),
        ];
        let seps = Separators {
            source: Some('.'),
            target: Some('.'),
        };
        let target = dst(&["INBOX", "INBOX/Sent", "INBOX/TRASH"]);
        assert_eq!(
            sorted(plan(&source, &target, seps, FolderRules::default())),
            pairs(&[
                ("INBOX", "INBOX"),
                ("INBOX/sent items", "INBOX/Sent"),
                ("INBOX/Papierkorb", "INBOX/TRASH"),
            ])
        );
        // Deeper down a name is just a name.
        let source = src(&["Projects/Sent"]);
        assert_eq!(
            plan(&source, &dst(&["Sent"]), TO_DOT, FolderRules::default()),
            pairs(&[("Projects/Sent", "Projects/Sent")])
        );
    }

    #[test]
    fn case_twins_stay_apart_unless_the_target_folds_case() {
        let source = src(&["Projects", "projects", "Projects/a"]);
        // Dovecot, Cyrus: two folders, two names.
        assert_eq!(
            sorted(plan(&source, &[], SLASH, FolderRules::default())),
            pairs(&[
                ("Projects", "Projects"),
                ("Projects/a", "Projects/a"),
                ("projects", "projects"),
            ])
        );
        // Exchange: one would merge into the other, so the second gets its own.
        let folding = FolderRules {
            target_folds_case: true,
            ..FolderRules::default()
        };
        assert_eq!(
            sorted(plan(&source, &[], SLASH, folding)),
            pairs(&[
                ("Projects", "Projects"),
                ("Projects/a", "Projects/a"),
                ("projects", "projects (2)"),
            ])
        );
    }

    #[test]
    fn the_case_probe_names_and_twins() {
        assert_eq!(case_swapped(b"Sent"), Some(b"sENT".to_vec()));
        assert_eq!(
            case_swapped(b"&AMk-l&AOk-ments"),
            Some(b"&AMk-L&AOk-MENTS".to_vec())
        );
        assert_eq!(case_swapped(b"2024"), None);
        assert_eq!(case_swapped(b"&AMk-"), None);
        assert!(has_case_twins(&[b"INBOX", b"Projects", b"projects"]));
        assert!(!has_case_twins(&[b"INBOX", b"inbox", b"Projects"]));
    }

    #[test]
    fn subfolders_follow_a_mapped_special_folder() {
        let source = src(&["Sent Items", "Sent Items/2019", "Sent Items/2019/Q1"]);
        assert_eq!(
            plan(&source, &dst(&["Sent"]), TO_DOT, FolderRules::default()),
            pairs(&[
                ("Sent Items", "Sent"),
                ("Sent Items/2019", "Sent/2019"),
                ("Sent Items/2019/Q1", "Sent/2019/Q1"),
            ])
        );
    }

    #[test]
    fn inbox_is_inbox() {
        let source = src(&["inbox", "Inbox/Sub"]);
        let target = vec![with(folder("INBOX", '.'), SpecialUse::Sent)];
        assert_eq!(
            sorted(plan(&source, &target, TO_DOT, FolderRules::default())),
            pairs(&[("inbox", "INBOX"), ("Inbox/Sub", "INBOX/Sub")])
        );
    }

    #[test]
    fn all_mail_and_flagged_are_left_out_unless_mapped() {
        let mut gmail = folder("[Gmail]", '/');
        gmail.selectable = false;
        let source = vec![
            folder("INBOX", '/'),
            gmail,
            with(folder("[Gmail]/All Mail", '/'), SpecialUse::All),
            with(folder("[Gmail]/Starred", '/'), SpecialUse::Flagged),
            with(folder("[Gmail]/Sent Mail", '/'), SpecialUse::Sent),
        ];
        let mut plan_ = plan_folders(&source, &dst(&["Sent"]), TO_DOT, FolderRules::default());
        plan_.sort_by(|a, b| a.src.cmp(&b.src));
        let names: Vec<(&[u8], &[u8])> = plan_.iter().map(|m| (&m.src[..], &m.dst[..])).collect();
        // "[Gmail]" was only a parent of folders that went elsewhere: not created.
        assert_eq!(
            names,
            [
                (&b"INBOX"[..], &b"INBOX"[..]),
                (b"[Gmail]/Sent Mail", b"Sent")
            ]
        );
        let map = ["[Gmail]/All Mail=All Mail".parse().unwrap()];
        let rules = FolderRules {
            excluded: &[],
            folder_map: &map,
            ..FolderRules::default()
        };
        assert!(
            plan(&source, &[], TO_DOT, rules)
                .contains(&("[Gmail]/All Mail".into(), "All Mail".into()))
        );
    }

    #[test]
    fn noselect_parents_and_empty_folders_are_kept() {
        let mut source = src(&["Projects", "Projects/a.b", "Empty"]);
        source[0].selectable = false;
        let plan_ = plan_folders(&source, &[], TO_DOT, FolderRules::default());
        let dsts: Vec<(&[u8], bool, bool)> = plan_
            .iter()
            .map(|m| (&m.dst[..], m.selectable, m.create))
            .collect();
        assert_eq!(
            dsts,
            [
                (&b"Empty"[..], true, true),
                (b"Projects", false, true),
                (b"Projects.a_b", true, true)
            ]
        );
    }

    #[test]
    fn subscriptions_follow_the_folder() {
        let mut source = src(&["Sent Items", "Unsubscribed"]);
        source[1].subscribed = false;
        let plan_ = plan_folders(&source, &dst(&["Sent"]), TO_DOT, FolderRules::default());
        let subs: Vec<(&[u8], bool)> = plan_.iter().map(|m| (&m.dst[..], m.subscribe)).collect();
        assert_eq!(subs, [(&b"Sent"[..], true), (b"Unsubscribed", false)]);
    }

    #[test]
    fn two_source_folders_never_merge() {
        // Both are Sent-ish and the target flags its Sent: the attribute wins it, the
        // other gets a name of its own rather than pouring into the same folder.
        let source = vec![
            with(folder("Sent Items", '/'), SpecialUse::Sent),
            folder("Sent", '/'),
            folder("Sent/2019", '/'),
            folder("Sent (2)", '/'),
        ];
        let target = [with(folder("Sent", '.'), SpecialUse::Sent)];
        let plan_ = plan_folders(&source, &target, TO_DOT, FolderRules::default());
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let got: Vec<String> = plan_
            .iter()
            .map(|m| match &m.renamed_from {
                Some(w) => format!("{} -> {} (wanted {})", text(&m.src), text(&m.dst), text(w)),
                None => format!("{} -> {}", text(&m.src), text(&m.dst)),
            })
            .collect();
        assert_eq!(
            got,
            [
                "Sent Items -> Sent",
                "Sent (2) -> Sent (2)",
                // " (2)" is another source folder's own name: " (3)".
                "Sent -> Sent (3) (wanted Sent)",
                "Sent/2019 -> Sent (3).2019",
            ]
        );
        // Without the target's attribute, its "Sent" is the source "Sent"'s own name, so
        // no rename is needed: each keeps its name.
        assert_eq!(
            sorted(plan(
                &source[..2],
                &dst(&["Sent"]),
                TO_DOT,
                FolderRules::default()
            )),
            pairs(&[("Sent", "Sent"), ("Sent Items", "Sent Items")])
        );
        // Case-insensitive targets would merge "Foo" and "foo".
        let folding = FolderRules {
            target_folds_case: true,
            ..FolderRules::default()
        };
        let plan_ = plan(&src(&["Foo", "foo"]), &[], TO_DOT, folding);
        assert_eq!(plan_, pairs(&[("Foo", "Foo"), ("foo", "foo (2)")]));
    }

    #[test]
    fn only_one_source_folder_takes_a_role_by_name() {
        // "Sent" is the more usual name, so it holds the role; "Sent Items" stays itself.
        let source = src(&["Sent Items", "Sent"]);
        assert_eq!(
            sorted(plan(
                &source,
                &dst(&["Gesendet"]),
                TO_DOT,
                FolderRules::default()
            )),
            pairs(&[("Sent", "Gesendet"), ("Sent Items", "Sent Items")])
        );
    }

    #[test]
    fn folder_map_comes_first_and_takes_subfolders_along() {
        let map: Vec<FolderMapEntry> = ["old stuff=Archive/Old", "Sent Items/2019=Sent 2019"]
            .iter()
            .map(|e| e.parse().unwrap())
            .collect();
        let rules = FolderRules {
            excluded: &[],
            folder_map: &map,
            ..FolderRules::default()
        };
        let source = src(&[
            "Old Stuff",
            "Old Stuff/Sent",
            "Sent Items",
            "Sent Items/2019",
            "Sent Items/2019/Q1",
            "Sent Items/2020",
        ]);
        assert_eq!(
            sorted(plan(&source, &dst(&["Sent"]), TO_DOT, rules)),
            pairs(&[
                ("Old Stuff", "Archive/Old"),
                ("Old Stuff/Sent", "Archive/Old/Sent"),
                ("Sent Items", "Sent"),
                ("Sent Items/2019", "Sent 2019"),
                ("Sent Items/2019/Q1", "Sent 2019/Q1"),
                ("Sent Items/2020", "Sent/2020"),
            ])
        );
        // A mapped name in mUTF-7, the target's separator inside a level replaced.
        let map = ["Projects=Éléments.2024".parse().unwrap()];
        let rules = FolderRules {
            excluded: &[],
            folder_map: &map,
            ..FolderRules::default()
        };
        let m = plan_folders(&src(&["Projects"]), &[], TO_DOT, rules);
        assert_eq!(m[0].dst, b"&AMk-l&AOk-ments_2024");
        assert_eq!(m[0].mapped_by, MappedBy::FolderMap);
    }

    #[test]
    fn the_next_pass_keeps_the_mapping() {
        // The target had no Sent folder: "Gesendet" keeps its name and is created. The
        // next pass sees it (and "Sent Items", created for the other folder) and must
        // still map both the same way.
        let source = src(&["Gesendet", "Sent Items"]);
        let first = plan(
            &source,
            &dst(&["Gesendet x"]),
            TO_DOT,
            FolderRules::default(),
        );
        assert_eq!(
            sorted(first.clone()),
            pairs(&[("Gesendet", "Gesendet"), ("Sent Items", "Sent Items")])
        );
        let second = plan(
            &source,
            &dst(&["Gesendet", "Sent Items"]),
            TO_DOT,
            FolderRules::default(),
        );
        assert_eq!(first, second);
    }

    /// A random mailbox: levels drawn from names that collide, look special, contain
    /// either separator or need modified UTF-7.
    fn arb_tree() -> impl Strategy<Value = Vec<(Vec<String>, bool, bool, Option<SpecialUse>)>> {
        let level = prop::sample::select(vec![
            "INBOX",
            "inbox",
            "Sent",
            "sent",
            "Sent Items",
            "Gesendet",
            "Trash",
            "Papelera",
            "Junk",
            "Spam",
            "Archive",
            "Drafts",
            "a",
            "A",
            "b",
            "a.b",
            "a/b",
            "Sent (2)",
            "Éléments envoyés",
            "[Gmail]",
            "x (2)",
        ]);
        let special = prop::option::weighted(
            0.2,
            prop::sample::select(vec![
                SpecialUse::Sent,
                SpecialUse::Trash,
                SpecialUse::Junk,
                SpecialUse::All,
                SpecialUse::Archive,
            ]),
        );
        prop::collection::vec(
            (
                prop::collection::vec(level.prop_map(String::from), 1..4),
                prop::bool::weighted(0.85),
                any::<bool>(),
                special,
            ),
            0..14,
        )
    }

    fn build(
        tree: &[(Vec<String>, bool, bool, Option<SpecialUse>)],
        sep: Option<char>,
    ) -> Vec<ListedFolder> {
        let mut out: Vec<ListedFolder> = Vec::new();
        for (levels, selectable, subscribed, special_use) in tree {
            let levels: Vec<String> = levels
                .iter()
                .map(|l| match sep {
                    // A server cannot have its own separator inside a level.
                    Some(s) => l.replace(s, "_"),
                    None => l.clone(),
                })
                .map(|l| {
                    String::from_utf8(MailboxName::from_display(&l).as_bytes().to_vec()).unwrap()
                })
                .collect();
            let levels = if sep.is_none() {
                vec![levels.concat()]
            } else {
                levels
            };
            let name = levels
                .join(&sep.map(String::from).unwrap_or_default())
                .into_bytes();
            if out
                .iter()
                .any(|f| f.name == name || (is_inbox(&f.name) && is_inbox(&name)))
            {
                continue;
            }
            out.push(ListedFolder {
                name,
                selectable: *selectable,
                subscribed: *subscribed,
                special_use: *special_use,
            });
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every source folder gets exactly one target name, distinct source folders never
        /// share one, parents come before children, the result does not depend on listing
        /// order, and the next pass (seeing what this one created) maps the same way.
        #[test]
        fn mapping_is_total_distinct_ordered_and_stable(
            source_tree in arb_tree(),
            target_tree in arb_tree(),
            source_sep in prop::sample::select(vec![Some('/'), Some('.')]),
            target_sep in prop::sample::select(vec![Some('/'), Some('.'), None]),
            map in prop::collection::vec((prop::sample::select(vec!["Sent", "a", "a/b", "Spam", "[Gmail]"]), prop::sample::select(vec!["Sent", "b", "a/b", "INBOX", "Sent (2)"])), 0..3),
            excluded in prop::collection::vec(prop::sample::select(vec!["a".to_string(), "Trash".to_string(), "Sent Items".to_string()]), 0..2),
            seed in any::<u64>(),
            folds in any::<bool>(),
        ) {
            let seps = Separators { source: source_sep, target: target_sep };
            let source = build(&source_tree, source_sep);
            let target = build(&target_tree, target_sep);
            let map: Vec<FolderMapEntry> = map.iter().map(|(s, t)| format!("{s}={t}").parse().unwrap()).collect();
            let rules = FolderRules { excluded: &excluded, folder_map: &map, target_folds_case: folds };
            let plan = plan_folders(&source, &target, seps, rules);

            // Exactly one target name per kept source folder.
            let explicit = |f: &ListedFolder| map.iter().any(|e| key_of(&split(&f.name, source_sep)) == e.source.to_lowercase());
            for f in &source {
                let n = plan.iter().filter(|m| m.src == f.name).count();
                prop_assert!(n <= 1, "{:?} mapped twice", f.name);
                let excluded = is_excluded(&display(&f.name), source_sep, &excluded)
                    || (matches!(f.special_use, Some(SpecialUse::All)) && !explicit(f));
                if f.selectable && !excluded {
                    prop_assert_eq!(n, 1, "{:?} not mapped", String::from_utf8_lossy(&f.name));
                }
            }
            // No two share a target folder, compared as the target compares names.
            let key = |dst: &[u8]| if folds || is_inbox(dst) { key_of(&split(dst, target_sep)) } else { raw_key(&split(dst, target_sep)) };
            let keys: BTreeSet<String> = plan.iter().map(|m| key(&m.dst)).collect();
            prop_assert_eq!(keys.len(), plan.len(), "shared target names: {:#?}", plan);
            // Parents before children.
            if let Some(s) = ascii(target_sep) {
                for (j, child) in plan.iter().enumerate() {
                    for (i, parent) in plan.iter().enumerate() {
                        let mut prefix = parent.dst.clone();
                        prefix.push(s);
                        if child.dst.starts_with(&prefix) {
                            prop_assert!(i < j, "{:?} after its child {:?}", parent.dst, child.dst);
                        }
                    }
                }
            }
            // Listing order does not matter.
            let mut rng = seed;
            let mut shuffle = |v: &mut Vec<ListedFolder>| {
                for i in (1..v.len()).rev() {
                    rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    v.swap(i, (rng >> 33) as usize % (i + 1));
                }
            };
            let (mut s2, mut t2) = (source.clone(), target.clone());
            shuffle(&mut s2);
            shuffle(&mut t2);
            prop_assert_eq!(&plan_folders(&s2, &t2, seps, rules), &plan);
            // The next pass: the target now holds what this one created.
            let mut after = target.clone();
            after.extend(plan.iter().filter(|m| m.create).map(|m| ListedFolder {
                name: m.dst.clone(),
                selectable: true,
                subscribed: m.subscribe,
                special_use: None,
            }));
            let next = plan_folders(&source, &after, seps, rules);
            let names = |p: &[FolderMapping]| p.iter().map(|m| (m.src.clone(), m.dst.clone())).collect::<BTreeMap<_, _>>();
            prop_assert_eq!(names(&next), names(&plan));
            prop_assert!(next.iter().all(|m| !m.create));
        }

        /// Mapping names never loses the hierarchy and never invents a level.
        #[test]
        fn mapped_names_keep_their_levels(parts in proptest::collection::vec("[a-zA-Z0-9 ._&-]{1,8}", 1..5)) {
            let src = parts.join("/");
            prop_assume!(!is_inbox(src.as_bytes()));
            let dst = map_name(src.as_bytes(), TO_DOT);
            prop_assert_eq!(dst.iter().filter(|b| **b == b'.').count(), parts.len() - 1);
        }
    }
}
