//! What becomes of a job after one attempt at its work: a plain function of the attempt's
//! typed outcome and the job's counts, so every case is a named arm with a test.
//!
//! | attempt                          | job                              | user                 |
//! |----------------------------------|----------------------------------|----------------------|
//! | passed                           | done (removed)                   | Synced               |
//! | failed (a refused login, …)      | done                             | Failed               |
//! | transient, moved mail on         | again in 1 s, attempts from 0    | still running        |
//! | transient, moved nothing         | again in 2ⁿ s; the 3rd ends it   | running; then Failed |
//! | throttled by a server            | again after the server's wait    | running, Throttled   |
//! | throttled 64 times in a row      | done                             | Failed               |
//! | stopped by the admin             | given back (runs on `start`)     | Stopped              |
//! | the process shuts down           | given back (due at once)         | as before the pass   |
//! | the lease was lost               | left to the worker that has it   | left to it           |

use std::time::Duration;

use cutover_sync::throttle::{Throttle, wait_after};
use cutover_sync::{Attempt, StopReason};

/// Attempts in a row that fail and move nothing before the pass fails.
pub const ATTEMPTS: u32 = 3;

/// Refusals for load in a row after which a pass fails after all (some five hours of
/// waits without a hint): a server that never lets a mailbox in is a failure to report.
pub const MAX_REFUSALS: u32 = 64;

/// What the scheduler does with a job after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The work is over: the job goes; the user is Synced (`Ok`) or Failed (`Err`).
    Finish(Result<(), String>),
    /// Run it again `after` from now, with these counts in a row.
    Retry {
        after: Duration,
        attempts: u32,
        refusals: u32,
        /// A server refused for load: the user shows Throttled until then.
        throttled: bool,
        error: String,
    },
    /// Stopped by the admin or a shutdown: the job is given back.
    GiveBack(StopReason),
    /// Another worker has the job now: nothing is written.
    LetGo,
}

/// The decision after `attempt`, for a job that had failed `attempts` times and been
/// refused `refusals` times in a row before it.
pub fn decide(attempt: &Attempt, attempts: u32, refusals: u32) -> Decision {
    match attempt {
        Attempt::Passed(_) => Decision::Finish(Ok(())),
        Attempt::Failed { error } => Decision::Finish(Err(error.clone())),
        Attempt::Transient {
            error,
            progressed: true,
        } => Decision::Retry {
            after: Duration::from_secs(1),
            attempts: 0,
            refusals: 0,
            throttled: false,
            error: error.clone(),
        },
        Attempt::Transient {
            error,
            progressed: false,
        } => {
            let failed = attempts + 1;
            if failed >= ATTEMPTS {
                Decision::Finish(Err(format!(
                    "{error} (a transient failure: gave up after {ATTEMPTS} attempts that moved nothing; the next pass tries again)"
                )))
            } else {
                Decision::Retry {
                    after: Duration::from_secs(1 << failed),
                    attempts: failed,
                    refusals: 0,
                    throttled: false,
                    error: error.clone(),
                }
            }
        }
        Attempt::Throttled { hint, error } => {
            let refused = refusals + 1;
            if refused > MAX_REFUSALS {
                Decision::Finish(Err(format!(
                    "{error} (the server refused for load {MAX_REFUSALS} times in a row)"
                )))
            } else {
                Decision::Retry {
                    after: wait_after(Throttle { hint: *hint }, refused),
                    attempts,
                    refusals: refused,
                    throttled: true,
                    error: error.clone(),
                }
            }
        }
        Attempt::Stopped(StopReason::LeaseLost) => Decision::LetGo,
        Attempt::Stopped(reason) => Decision::GiveBack(*reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_sync::PassOutcome;
    use proptest::prelude::*;

    fn transient(progressed: bool) -> Attempt {
        Attempt::Transient {
            error: "connection reset".into(),
            progressed,
        }
    }

    #[test]
    fn a_pass_that_went_through_or_failed_for_good_ends_the_job() {
        assert_eq!(
            decide(&Attempt::Passed(PassOutcome::default()), 2, 5),
            Decision::Finish(Ok(()))
        );
        let failed = Attempt::Failed {
            error: "login refused".into(),
        };
        assert_eq!(
            decide(&failed, 0, 0),
            Decision::Finish(Err("login refused".into()))
        );
    }

    #[test]
    fn transient_failures_that_move_nothing_end_after_three_and_progress_starts_again() {
        let Decision::Retry {
            after, attempts, ..
        } = decide(&transient(false), 0, 0)
        else {
            panic!()
        };
        assert_eq!((after, attempts), (Duration::from_secs(2), 1));
        let Decision::Retry {
            after, attempts, ..
        } = decide(&transient(false), 1, 0)
        else {
            panic!()
        };
        assert_eq!((after, attempts), (Duration::from_secs(4), 2));
        let Decision::Finish(Err(e)) = decide(&transient(false), 2, 0) else {
            panic!()
        };
        assert!(e.contains("gave up after 3 attempts"), "{e}");
        let Decision::Retry { attempts, .. } = decide(&transient(true), 2, 0) else {
            panic!()
        };
        assert_eq!(attempts, 0);
    }

    #[test]
    fn a_refusal_waits_as_the_server_asks_and_never_ends_before_its_limit() {
        let hinted = Attempt::Throttled {
            hint: Some(Duration::from_millis(700)),
            error: "Request is throttled".into(),
        };
        assert_eq!(
            decide(&hinted, 1, 3),
            Decision::Retry {
                after: Duration::from_millis(700),
                attempts: 1,
                refusals: 4,
                throttled: true,
                error: "Request is throttled".into(),
            }
        );
        assert!(matches!(
            decide(&hinted, 0, MAX_REFUSALS),
            Decision::Finish(Err(_))
        ));
    }

    #[test]
    fn stops_give_the_job_back_and_a_lost_lease_lets_it_go() {
        assert_eq!(
            decide(&Attempt::Stopped(StopReason::BatchStopped), 0, 0),
            Decision::GiveBack(StopReason::BatchStopped)
        );
        assert_eq!(
            decide(&Attempt::Stopped(StopReason::Shutdown), 0, 0),
            Decision::GiveBack(StopReason::Shutdown)
        );
        assert_eq!(
            decide(&Attempt::Stopped(StopReason::LeaseLost), 0, 0),
            Decision::LetGo
        );
    }

    proptest! {
        /// Whatever happens in a row, a job ends: failures that move nothing within
        /// ATTEMPTS, refusals within MAX_REFUSALS, and a retry never waits more than
        /// five minutes.
        #[test]
        fn every_run_of_failures_ends(events in proptest::collection::vec(0u8..3, 1..200)) {
            let (mut attempts, mut refusals) = (0, 0);
            for (i, e) in events.iter().enumerate() {
                let attempt = match e {
                    0 => transient(false),
                    1 => transient(true),
                    _ => Attempt::Throttled { hint: None, error: "busy".into() },
                };
                match decide(&attempt, attempts, refusals) {
                    Decision::Retry { after, attempts: a, refusals: r, .. } => {
                        prop_assert!(after <= Duration::from_secs(300));
                        prop_assert!(a < ATTEMPTS && r <= MAX_REFUSALS);
                        attempts = a;
                        refusals = r;
                    }
                    Decision::Finish(Err(_)) => {
                        prop_assert!(*e != 1, "progress never fails a pass");
                        return Ok(());
                    }
                    other => prop_assert!(false, "{other:?} at {i}"),
                }
            }
        }
    }
}
