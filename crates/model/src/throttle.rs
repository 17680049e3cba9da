//! How many mailboxes of a batch may talk to the servers at once after the servers
//! refused for load: additive increase, multiplicative decrease. The state is plain data
//! that the store keeps per batch, so that every worker on every machine backs off
//! together.

/// Additive increase, multiplicative decrease of how many mailboxes run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aimd {
    limit: u32,
    /// Passes through since the limit last changed; `limit` of them add one.
    credits: u32,
    /// The admin's MaxConcurrent… setting: never more.
    max: u32,
}

impl Aimd {
    /// No refusal yet: the admin's limit.
    pub fn new(max: u32) -> Self {
        let max = max.max(1);
        Self {
            limit: max,
            credits: 0,
            max,
        }
    }

    /// A state as stored, under the admin's limit of now (which may have changed since).
    pub fn restore(limit: u32, credits: u32, max: u32) -> Self {
        let max = max.max(1);
        let limit = limit.clamp(1, max);
        Self {
            limit,
            credits: credits.min(limit),
            max,
        }
    }

    /// How many may run at once now.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn credits(&self) -> u32 {
        self.credits
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    /// A server refused: half as many (at least one).
    pub fn throttled(&mut self) {
        self.limit = (self.limit / 2).max(1);
        self.credits = 0;
    }

    /// A pass went through: one more once as many as run at once went through.
    pub fn succeeded(&mut self) {
        if self.limit >= self.max {
            return;
        }
        self.credits += 1;
        if self.credits >= self.limit {
            self.limit += 1;
            self.credits = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_limit_stays_between_one_and_the_admins_and_halves_at_a_refusal(
            max in 1u32..200, events in proptest::collection::vec(any::<bool>(), 0..400),
        ) {
            let mut a = Aimd::new(max);
            prop_assert_eq!(a.limit(), max);
            for ok in events {
                let before = a.limit();
                if ok {
                    a.succeeded();
                    prop_assert!(a.limit() >= before && a.limit() <= (before + 1).min(max));
                } else {
                    a.throttled();
                    prop_assert_eq!(a.limit(), (before / 2).max(1));
                }
                prop_assert!(a.limit() >= 1 && a.limit() <= max);
                // What the store keeps gives the same state back.
                prop_assert_eq!(Aimd::restore(a.limit(), a.credits(), max), a);
            }
        }

        #[test]
        fn after_a_refusal_as_many_successes_as_run_at_once_add_one(max in 4u32..100) {
            let mut a = Aimd::new(max);
            a.throttled();
            let low = a.limit();
            for _ in 0..low {
                a.succeeded();
            }
            prop_assert_eq!(a.limit(), low + 1);
        }

        #[test]
        fn a_lowered_admin_limit_holds_over_a_stored_state(limit in 0u32..300, credits in 0u32..300, max in 0u32..100) {
            let a = Aimd::restore(limit, credits, max);
            prop_assert!(a.limit() >= 1 && a.limit() <= max.max(1));
            prop_assert!(a.credits() <= a.limit());
        }
    }
}
