//! The admin's explicit folder map on a batch (`--folder-map 'Sent Items=Sent'`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One entry: a source folder (with its subfolders) goes to a target folder. Both are
/// display names with '/' between levels, whatever the servers' separators are; the
/// source side is matched case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderMapEntry {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("folder map entry {entry:?}: {reason} (expected 'Source Name=Target Name')")]
pub struct FolderMapError {
    pub entry: String,
    pub reason: &'static str,
}

impl FromStr for FolderMapEntry {
    type Err = FolderMapError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| FolderMapError {
            entry: s.to_string(),
            reason,
        };
        let (source, target) = s.split_once('=').ok_or_else(|| err("no '='"))?;
        // Leading/trailing '/' would mean an empty level; admins type them by habit.
        let clean = |n: &str| n.trim().trim_matches('/').trim().to_string();
        let (source, target) = (clean(source), clean(target));
        if source.is_empty() {
            return Err(err("empty source folder"));
        }
        if target.is_empty() {
            return Err(err("empty target folder"));
        }
        if source
            .split('/')
            .chain(target.split('/'))
            .any(|l| l.trim().is_empty())
        {
            return Err(err("empty level between two '/'"));
        }
        Ok(FolderMapEntry { source, target })
    }
}

impl fmt::Display for FolderMapEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.source, self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let e: FolderMapEntry = " /Old Stuff/2019/ = Archive/2019 ".parse().unwrap();
        assert_eq!(e.source, "Old Stuff/2019");
        assert_eq!(e.target, "Archive/2019");
        assert_eq!(e.to_string(), "Old Stuff/2019=Archive/2019");
        for bad in ["no equals", "=Target", "Source=", "a//b=c"] {
            assert!(bad.parse::<FolderMapEntry>().is_err(), "{bad}");
        }
    }
}
