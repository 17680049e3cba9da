//! An LDAP entry as plain data, and AD's range retrieval of long attributes
//! (`member;range=0-1499`, then `member;range=1500-*`, ... until the server answers a
//! range ending in `*`): AD returns at most 1,500 values of one attribute per read.

use std::collections::BTreeMap;

/// One entry: its DN and its attributes, names in lower case (LDAP attribute names are
/// case-insensitive; servers answer in their schema's spelling).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    attrs: BTreeMap<String, Vec<String>>,
}

impl Entry {
    pub fn new(dn: impl Into<String>) -> Self {
        Self {
            dn: dn.into(),
            attrs: BTreeMap::new(),
        }
    }

    /// Adds values to an attribute (after the ones it has).
    pub fn add(&mut self, attr: &str, values: impl IntoIterator<Item = String>) {
        self.attrs
            .entry(attr.to_ascii_lowercase())
            .or_default()
            .extend(values);
    }

    pub fn with(mut self, attr: &str, values: &[&str]) -> Self {
        self.add(attr, values.iter().map(|v| v.to_string()));
        self
    }

    /// The values of an attribute (none when absent).
    pub fn values(&self, attr: &str) -> &[String] {
        self.attrs
            .get(&attr.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The values of several attributes, one after the other.
    pub fn values_of<'a>(&'a self, attrs: &'a [String]) -> impl Iterator<Item = &'a String> + 'a {
        attrs.iter().flat_map(|a| self.values(a))
    }

    /// The first value among several attributes.
    pub fn first_of<'a>(&'a self, attrs: &'a [String]) -> Option<&'a str> {
        self.values_of(attrs)
            .map(String::as_str)
            .find(|v| !v.is_empty())
    }

    /// Moves the values of a ranged attribute (`member;range=0-1499`) under its plain
    /// name (`member`) and says which range it was, or `None` when the entry has none.
    pub fn take_ranged(&mut self) -> Option<(String, ValueRange)> {
        let key = self
            .attrs
            .keys()
            .find(|k| parse_ranged(k).is_some())?
            .clone();
        let (attr, range) = parse_ranged(&key).expect("found above");
        let values = self.attrs.remove(&key).unwrap_or_default();
        self.attrs.entry(attr.clone()).or_default().extend(values);
        Some((attr, range))
    }
}

/// A range of an attribute's values, as the server named it; `end: None` is `*`, the
/// last values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueRange {
    pub start: u64,
    pub end: Option<u64>,
}

impl ValueRange {
    /// The attribute description that asks for the values after this range, or
    /// `None` when this was the last range.
    pub fn next_request(&self, attr: &str) -> Option<String> {
        self.end.map(|end| format!("{attr};range={}-*", end + 1))
    }
}

/// Joins the answer to a ranged read (`request`, e.g. `member;range=1500-*`) into
/// `entry`'s `attr`, and says what to ask for next: `Ok(None)` once the server sent the
/// last range (`*`). `Err` (what came instead) when the answer is not the range asked
/// for, so a server that repeats itself cannot keep the reader going round.
pub fn join_next_range(
    entry: &mut Entry,
    attr: &str,
    request: &str,
    mut answer: Entry,
) -> Result<Option<String>, String> {
    let asked = parse_ranged(request).map(|(_, r)| r.start);
    match answer.take_ranged() {
        Some((a, r)) if a.eq_ignore_ascii_case(attr) && Some(r.start) == asked => {
            entry.add(attr, answer.values(attr).iter().cloned());
            Ok(r.next_request(attr))
        }
        Some((a, r)) => Err(format!(
            "asked for {request}, got {a};range={}-{}",
            r.start,
            r.end.map_or("*".to_string(), |e| e.to_string())
        )),
        None => Err(format!("asked for {request}, got no ranged values")),
    }
}

/// `member;range=1500-2999` -> (`member`, 1500-2999); `member;range=3000-*` -> end `None`.
pub fn parse_ranged(description: &str) -> Option<(String, ValueRange)> {
    let lower = description.to_ascii_lowercase();
    let (attr, options) = lower.split_once(';')?;
    let range = options.split(';').find_map(|o| o.strip_prefix("range="))?;
    let (start, end) = range.split_once('-')?;
    let start = start.parse().ok()?;
    let end = if end == "*" {
        None
    } else {
        let end: u64 = end.parse().ok()?;
        if end < start {
            return None;
        }
        Some(end)
    };
    Some((attr.to_string(), ValueRange { start, end }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_until_the_star() {
        assert_eq!(
            parse_ranged("member;range=0-1499"),
            Some((
                "member".into(),
                ValueRange {
                    start: 0,
                    end: Some(1499)
                }
            ))
        );
        let (_, last) = parse_ranged("Member;Range=3000-*").unwrap();
        assert_eq!(last.end, None);
        assert_eq!(last.next_request("member"), None);
        let (_, first) = parse_ranged("member;range=0-1499").unwrap();
        assert_eq!(
            first.next_request("member").as_deref(),
            Some("member;range=1500-*")
        );
        assert_eq!(parse_ranged("member"), None);
        assert_eq!(parse_ranged("member;binary"), None);
        assert_eq!(parse_ranged("member;range=9-3"), None);
    }

    /// A server that answers `values` in ranges of `step` (as AD does with 1,500).
    fn ranged_answer(dn: &str, values: &[String], start: usize, step: usize) -> Entry {
        let end = (start + step).min(values.len());
        let last = if end == values.len() {
            "*".to_string()
        } else {
            (end - 1).to_string()
        };
        let mut e = Entry::new(dn);
        e.add(
            &format!("member;range={start}-{last}"),
            values[start..end].iter().cloned(),
        );
        e
    }

    proptest::proptest! {
        #[test]
        fn every_value_arrives_once_whatever_the_range_size(
            count in 0usize..5000,
            step in 1usize..1600,
        ) {
            let values: Vec<String> = (0..count).map(|i| format!("CN=m{i},DC=c")).collect();
            let mut entry = ranged_answer("CN=g", &values, 0, step);
            let mut reads = 0;
            while let Some((attr, first)) = entry.take_ranged() {
                let mut next = first.next_request(&attr);
                while let Some(request) = next {
                    let (_, asked) = parse_ranged(&request).unwrap();
                    let answer = ranged_answer("CN=g", &values, asked.start as usize, step);
                    next = join_next_range(&mut entry, &attr, &request, answer).unwrap();
                    reads += 1;
                }
            }
            proptest::prop_assert_eq!(entry.values("member"), &values[..]);
            proptest::prop_assert_eq!(reads, count.saturating_sub(1) / step);
        }
    }

    #[test]
    fn a_server_that_repeats_a_range_stops_the_reading() {
        let mut entry = Entry::new("CN=g");
        let same = Entry::new("CN=g").with("member;range=0-1", &["a", "b"]);
        let err = join_next_range(&mut entry, "member", "member;range=2-*", same).unwrap_err();
        assert!(
            err.contains("asked for member;range=2-*, got member;range=0-1"),
            "{err}"
        );
        let nothing = Entry::new("CN=g");
        assert!(join_next_range(&mut entry, "member", "member;range=2-*", nothing).is_err());
        assert!(entry.values("member").is_empty());
    }

    #[test]
    fn ranged_values_join_the_plain_attribute() {
        let mut e = Entry::new("cn=g")
            .with("member;range=0-1", &["a", "b"])
            .with("cn", &["g"]);
        let (attr, range) = e.take_ranged().unwrap();
        assert_eq!(attr, "member");
        assert_eq!(range.end, Some(1));
        e.add("member;range=2-*", ["c".to_string()]);
        let (_, range) = e.take_ranged().unwrap();
        assert_eq!(range.end, None);
        assert_eq!(e.values("MEMBER"), ["a", "b", "c"]);
        assert!(e.take_ranged().is_none());
    }
}
