//! RFC 2782 / RFC 6186 SRV records: which target to try first.

use crate::settings::normalize_host;

/// One SRV answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The usable targets, best first: lowest priority, then highest weight (a stable
/// order rather than RFC 2782's weighted random pick, so reports can be compared). A
/// target of "." says the service is decidedly not available (RFC 2782): no targets.
pub fn order(records: &[SrvRecord]) -> Vec<SrvRecord> {
    if records.iter().any(|r| normalize_host(&r.target).is_empty()) {
        return Vec::new();
    }
    let mut out: Vec<SrvRecord> = records
        .iter()
        .filter(|r| r.port != 0)
        .map(|r| SrvRecord {
            target: normalize_host(&r.target),
            ..r.clone()
        })
        .collect();
    out.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then(b.weight.cmp(&a.weight))
            .then(a.target.cmp(&b.target))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(priority: u16, weight: u16, port: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    #[test]
    fn lowest_priority_then_heaviest_weight_comes_first() {
        let got = order(&[
            r(20, 0, 993, "backup.contoso.test."),
            r(10, 5, 993, "b.contoso.test."),
            r(10, 50, 993, "A.contoso.test."),
        ]);
        let hosts: Vec<&str> = got.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(
            hosts,
            ["a.contoso.test", "b.contoso.test", "backup.contoso.test"]
        );
    }

    #[test]
    fn a_dot_target_means_no_service() {
        assert!(order(&[r(0, 0, 0, ".")]).is_empty());
        assert!(order(&[]).is_empty());
    }
}
