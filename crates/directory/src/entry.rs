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
