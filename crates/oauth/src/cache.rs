//! When a cached token may still be handed out: pure decisions over times, tested
//! without clocks or servers.

use chrono::{DateTime, Duration, Utc};

/// The longest a token is refreshed ahead of its expiry.
pub const MAX_REFRESH_AHEAD: Duration = Duration::minutes(5);
/// How long a refusal by the token endpoint that retrying cannot fix (a revoked secret,
/// an unknown client) is remembered, so that a batch's users fail with it at once
/// instead of each asking again.
pub const REFUSAL_MEMORY: Duration = Duration::minutes(5);

/// What the cache knows of one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTimes {
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub serial: u64,
}

impl TokenTimes {
    /// From when the token is refreshed instead of handed out: a quarter of its
    /// lifetime ahead of expiry, at most [`MAX_REFRESH_AHEAD`]. A pass that starts a
    /// login with it still has that margin before the server would see it expired.
    pub fn refresh_from(&self) -> DateTime<Utc> {
        let lifetime = self.expires_at - self.issued_at;
        if lifetime <= Duration::zero() {
            return self.issued_at;
        }
        let ahead = (lifetime / 4).min(MAX_REFRESH_AHEAD);
        self.expires_at - ahead
    }
}

/// Whether to hand out the cached token or ask the provider for a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Use,
    Fetch,
}

/// `refused`: the serial of a token the IMAP server just refused. It is replaced, unless
/// another login replaced it meanwhile (then the newer one is tried).
pub fn decide(now: DateTime<Utc>, cached: Option<&TokenTimes>, refused: Option<u64>) -> Decision {
    match cached {
        None => Decision::Fetch,
        Some(t) if refused == Some(t.serial) => Decision::Fetch,
        Some(t) if now >= t.refresh_from() => Decision::Fetch,
        Some(_) => Decision::Use,
    }
}

/// When a token answered with `expires_in` seconds (RFC 6749 §5.1; optional, and then
/// taken as an hour, the usual lifetime) expires.
pub fn expiry(issued_at: DateTime<Utc>, expires_in: Option<u64>) -> DateTime<Utc> {
    let secs = expires_in.unwrap_or(3600).min(366 * 24 * 3600);
    issued_at + Duration::seconds(secs as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn an_hour_token_is_refreshed_five_minutes_ahead() {
        let t = TokenTimes {
            issued_at: at(0),
            expires_at: at(3600),
            serial: 1,
        };
        assert_eq!(t.refresh_from(), at(3300));
        assert_eq!(decide(at(3299), Some(&t), None), Decision::Use);
        assert_eq!(decide(at(3300), Some(&t), None), Decision::Fetch);
        assert_eq!(decide(at(10), Some(&t), Some(1)), Decision::Fetch);
        // Someone else already replaced the refused token: use the new one.
        assert_eq!(decide(at(10), Some(&t), Some(0)), Decision::Use);
        assert_eq!(decide(at(10), None, None), Decision::Fetch);
    }

    #[test]
    fn a_short_token_is_refreshed_a_quarter_ahead() {
        let t = TokenTimes {
            issued_at: at(0),
            expires_at: at(8),
            serial: 1,
        };
        assert_eq!(t.refresh_from(), at(6));
        let dead = TokenTimes {
            issued_at: at(0),
            expires_at: at(0),
            serial: 1,
        };
        assert_eq!(decide(at(0), Some(&dead), None), Decision::Fetch);
        assert_eq!(expiry(at(0), None), at(3600));
        assert_eq!(expiry(at(0), Some(5)), at(5));
    }

    proptest! {
        /// An expired token is never handed out, and one is never refreshed in the
        /// first three quarters of its life unless refused.
        #[test]
        fn never_an_expired_token(issued in 0i64..10_000, life in -10i64..100_000, now in 0i64..120_000, serial in 0u64..3) {
            let t = TokenTimes { issued_at: at(issued), expires_at: at(issued + life), serial: 1 };
            let d = decide(at(now), Some(&t), None);
            if now >= issued + life {
                prop_assert_eq!(d, Decision::Fetch);
            }
            if life > 0 && now >= issued && (now - issued) * 4 < life * 3 {
                prop_assert_eq!(d, Decision::Use);
            }
            if serial == 1 {
                prop_assert_eq!(decide(at(now), Some(&t), Some(serial)), Decision::Fetch);
            }
        }
    }
}
