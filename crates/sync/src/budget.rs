//! One budget for the message bytes held in memory by all mailboxes of a run, so that
//! memory use depends on the budget, not on how many mailboxes run or how big their
//! messages are (large ones wait in temporary files).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The default budget: what chunks in flight may hold, over all mailboxes.
pub const DEFAULT_MEMORY_BUDGET_KIB: u32 = 24 * 1024;

/// Shared by the mailboxes of a run; counted in KiB.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    capacity: u32,
}

/// Room reserved in the budget; given back when dropped.
#[derive(Debug)]
pub struct MemoryPermit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl MemoryBudget {
    pub fn new(kib: u32) -> Self {
        let capacity = kib.max(1);
        Self {
            permits: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// Waits until `kib` fit (a request above the whole budget waits for all of it).
    pub async fn reserve(&self, kib: u32) -> MemoryPermit {
        let want = kib.clamp(1, self.capacity);
        // The semaphore is never closed, so this only fails if it were.
        MemoryPermit(self.permits.clone().acquire_many_owned(want).await.ok())
    }

    /// A permit that holds nothing: for data whose room another permit holds.
    pub fn nothing() -> MemoryPermit {
        MemoryPermit(None)
    }

    /// KiB not reserved right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

impl MemoryBudget {
    /// The budget `CUTOVER_MEMORY_MIB` asks for, else the default.
    pub fn from_env() -> Self {
        let kib = std::env::var("CUTOVER_MEMORY_MIB")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map(|mib| mib.saturating_mul(1024))
            .unwrap_or(DEFAULT_MEMORY_BUDGET_KIB);
        Self::new(kib)
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        Self::new(DEFAULT_MEMORY_BUDGET_KIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_room_and_give_it_back() {
        let budget = MemoryBudget::new(10);
        let a = budget.reserve(6).await;
        assert_eq!(budget.available(), 4);
        // More than is left waits...
        let b = tokio::time::timeout(std::time::Duration::from_millis(50), budget.reserve(6)).await;
        assert!(b.is_err());
        drop(a);
        // ...until it is given back; above the capacity is capped.
        let c = budget.reserve(100).await;
        assert_eq!(budget.available(), 0);
        drop(c);
        assert_eq!(budget.available(), 10);
    }
}
