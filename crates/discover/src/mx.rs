//! MX records: do they point at the target yet, and which IMAP hosts they suggest.

use serde::Serialize;

use crate::settings::normalize_host;

/// One MX answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxRecord {
    pub preference: u16,
    pub exchange: String,
}

/// Where a domain's mail goes, compared with where it should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MxState {
    /// No MX record at all.
    NoMx,
    /// Every MX host is one of the expected hosts: the switch is done.
    Target,
    /// Some MX hosts are expected ones, some are not: mail may still reach the source.
    Mixed,
    /// No MX host is expected: mail still goes to the old system.
    Source,
    /// Nothing to compare with: no expected host is known.
    Unknown,
}

impl MxState {
    pub fn as_str(self) -> &'static str {
        match self {
            MxState::NoMx => "NoMx",
            MxState::Target => "Target",
            MxState::Mixed => "Mixed",
            MxState::Source => "Source",
            MxState::Unknown => "Unknown",
        }
    }

    /// Whether the MX switch counts as seen.
    pub fn switched(self) -> bool {
        self == MxState::Target
    }
}

/// Compares MX hosts with the expected target hosts (no case, no trailing dot).
pub fn compare(records: &[MxRecord], expected: &[String]) -> MxState {
    if records.is_empty() {
        return MxState::NoMx;
    }
    if expected.is_empty() {
        return MxState::Unknown;
    }
    let expected: Vec<String> = expected.iter().map(|h| normalize_host(h)).collect();
    let hits = records
        .iter()
        .filter(|r| expected.contains(&normalize_host(&r.exchange)))
        .count();
    match hits {
        0 => MxState::Source,
        n if n == records.len() => MxState::Target,
        _ => MxState::Mixed,
    }
}

/// Host names to try for IMAP when nothing is published: `imap.DOMAIN`,
/// `mail.DOMAIN`, then the MX hosts by preference (mail servers often serve IMAP too),
/// without repeats.
pub fn guesses(domain: &str, records: &[MxRecord]) -> Vec<String> {
    let mut mx: Vec<&MxRecord> = records.iter().collect();
    mx.sort_by_key(|r| r.preference);
    let mut out: Vec<String> = Vec::new();
    let candidates = [format!("imap.{domain}"), format!("mail.{domain}")]
        .into_iter()
        .chain(mx.iter().map(|r| r.exchange.clone()));
    for host in candidates {
        let host = normalize_host(&host);
        if !host.is_empty() && !out.contains(&host) {
            out.push(host);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(preference: u16, exchange: &str) -> MxRecord {
        MxRecord {
            preference,
            exchange: exchange.into(),
        }
    }

    #[test]
    fn mx_hosts_are_compared_with_the_expected_ones() {
        let target = vec!["mx.new.test".to_string()];
        assert_eq!(compare(&[], &target), MxState::NoMx);
        assert_eq!(compare(&[mx(10, "MX.New.Test.")], &target), MxState::Target);
        assert_eq!(
            compare(&[mx(10, "mx.new.test."), mx(20, "mx.old.test.")], &target),
            MxState::Mixed
        );
        assert_eq!(compare(&[mx(10, "mx.old.test.")], &target), MxState::Source);
        assert_eq!(compare(&[mx(10, "mx.old.test.")], &[]), MxState::Unknown);
        assert!(MxState::Target.switched() && !MxState::Mixed.switched());
    }

    #[test]
    fn guesses_start_with_the_usual_names_then_mx_hosts_by_preference() {
        assert_eq!(
            guesses(
                "contoso.test",
                &[mx(20, "mx2.contoso.test."), mx(10, "Mail.Contoso.Test.")]
            ),
            ["imap.contoso.test", "mail.contoso.test", "mx2.contoso.test"]
        );
    }
}
