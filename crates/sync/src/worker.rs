//! Who runs passes: a [`Worker`] has an owner id for the leases it takes in the store,
//! and a lease time. `cutover run` and `cutover serve` are workers; two of them on one
//! state never work on the same mailbox at once.

use std::time::Duration;

use chrono::Utc;
use cutover_store::{Store, StoreError};
use tracing::{info, warn};

use crate::stop::{StopReason, StopSignal};

/// How long a lease holds without a heartbeat (`CUTOVER_LEASE_TTL_SECS` changes it).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// One worker process (or one of several in a process).
#[derive(Debug, Clone)]
pub struct Worker {
    /// `kind@host/pid/start`: unique, and says which process holds a lease.
    pub id: String,
    pub lease_ttl: Duration,
}

impl Worker {
    /// A worker of this process; `kind` says what it is (`run`, `serve`).
    pub fn new(kind: &str) -> Self {
        let lease_ttl = std::env::var("CUTOVER_LEASE_TTL_SECS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LEASE_TTL);
        let pid = std::process::id();
        let start = process_start(pid).unwrap_or_else(|| {
            Utc::now()
                .timestamp_nanos_opt()
                .unwrap_or_default()
                .to_string()
        });
        Self {
            id: format!("{kind}@{}/{pid}/{start}", hostname()),
            lease_ttl,
        }
    }

    /// How often a lease is renewed: a third of its time, so one late heartbeat does
    /// not lose it.
    pub fn heartbeat(&self) -> Duration {
        self.lease_ttl / 3
    }

    pub fn ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lease_ttl).unwrap_or(chrono::Duration::seconds(30))
    }

    /// Gives back the jobs held by workers of this machine whose process is gone
    /// (killed, crashed), so that a restarted worker need not wait for their leases to
    /// expire. Leases of other machines' workers only expire.
    pub async fn reap_dead_local_leases(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut owners: Vec<String> = store
            .leased_jobs()
            .await?
            .into_iter()
            .filter_map(|j| j.lease.map(|l| l.owner))
            .filter(|owner| owner != &self.id && is_dead_local_owner(owner))
            .collect();
        owners.sort();
        owners.dedup();
        for owner in owners {
            let jobs = store.release_jobs_of(&owner).await?;
            info!(
                owner,
                jobs, "taking back the lease of a worker that is gone"
            );
        }
        Ok(())
    }

    /// Renews the lease on job `id` every heartbeat until aborted; if it is lost (it
    /// expired, e.g. the process was suspended, and may be another worker's now),
    /// stops `stop` with [`StopReason::LeaseLost`].
    pub async fn keep_lease(self, store: std::sync::Arc<dyn Store>, id: i64, stop: StopSignal) {
        loop {
            tokio::time::sleep(self.heartbeat()).await;
            match store.renew_job(id, &self.id, self.ttl(), Utc::now()).await {
                Ok(true) => {}
                Ok(false) => {
                    warn!(
                        job = id,
                        "the lease was lost; leaving the job to the worker that has it"
                    );
                    stop.stop(StopReason::LeaseLost);
                    return;
                }
                // The store is busy or gone for a moment: try again on the next beat;
                // the lease holds for two more.
                Err(e) => warn!(job = id, error = %e, "cannot renew the lease"),
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains(['/', '@']))
        .unwrap_or_else(|| "localhost".into())
}

/// The start time of a process (clock ticks since boot), which with the pid names a
/// process uniquely: a pid reused later has another start time.
fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = parse_stat(&stat)?;
    if matches!(fields.0, 'Z' | 'X') {
        return None;
    }
    Some(fields.1.to_string())
}

/// (state, starttime) from a /proc/PID/stat line; the command name in parentheses may
/// hold spaces and parentheses itself, so fields are counted after the last ')'.
fn parse_stat(stat: &str) -> Option<(char, &str)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 3 (state) and 22 (starttime) of proc(5), counted from 1 with pid and comm.
    Some((fields.first()?.chars().next()?, fields.get(19)?))
}

/// Whether `owner` names a worker of this machine whose process has ended.
pub fn is_dead_local_owner(owner: &str) -> bool {
    let Some((_, place)) = owner.split_once('@') else {
        return false;
    };
    let mut parts = place.split('/');
    let (Some(host), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != hostname() || !cfg!(target_os = "linux") {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    process_start(pid).as_deref() != Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(line), Some(('S', "987654")));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_gone_one_is_dead() {
        let me = Worker::new("test");
        assert!(!is_dead_local_owner(&me.id), "{}", me.id);
        let host = hostname();
        // pid_max is below 2^22 on Linux: this pid never exists.
        if cfg!(target_os = "linux") {
            assert!(is_dead_local_owner(&format!("run@{host}/4294967/1")));
        }
        // Another machine's worker is never judged from here.
        assert!(!is_dead_local_owner("run@elsewhere.invalid/4294967/1"));
        assert!(!is_dead_local_owner("not an owner id"));
    }
}
