//! Rate limits as a generic cell rate algorithm (GCRA): a burst, then one every interval.
//! A limit's whole state is one number, the time its bucket is next empty (the
//! "theoretical arrival time"), so it is kept in one item and changed with one conditional
//! write, and holds across every instance that shares the table.

use std::time::Duration;

/// Verifies by one organization a minute, unless `VERIFY_RATE` says otherwise.
pub const DEFAULT_VERIFY_RATE: u32 = 60;

/// A burst of `burst`, then one every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub every: Duration,
}

impl Rate {
    /// `per_minute` a minute, all of them available at once.
    pub fn per_minute(per_minute: u32) -> Self {
        let per_minute = per_minute.max(1);
        Self {
            burst: per_minute,
            every: Duration::from_millis(60_000 / u64::from(per_minute))
                .max(Duration::from_millis(1)),
        }
    }

    fn every_ms(&self) -> i64 {
        i64::try_from(self.every.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// Whether one more is allowed at `now_ms`, given the limit's state `tat_ms` (`None`:
    /// never used, or forgotten): `Ok` with the new state, or `Err` with how long until one
    /// more would be allowed.
    pub fn admit(&self, tat_ms: Option<i64>, now_ms: i64) -> Result<i64, Duration> {
        let every = self.every_ms();
        let start = tat_ms.unwrap_or(now_ms).max(now_ms);
        let next = start.saturating_add(every);
        let limit = now_ms.saturating_add(every.saturating_mul(i64::from(self.burst)));
        if next <= limit {
            Ok(next)
        } else {
            let wait = u64::try_from(next - limit).unwrap_or(0);
            Err(Duration::from_millis(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const DOMAIN: Rate = Rate {
        burst: 5,
        every: Duration::from_secs(12),
    };

    #[test]
    fn a_burst_then_one_every_interval() {
        let mut state = None;
        for _ in 0..5 {
            state = Some(DOMAIN.admit(state, 0).expect("within the burst"));
        }
        assert_eq!(DOMAIN.admit(state, 0), Err(Duration::from_secs(12)));
        assert_eq!(DOMAIN.admit(state, 11_000), Err(Duration::from_secs(1)));
        let state = Some(DOMAIN.admit(state, 12_000).expect("one more after 12 s"));
        assert!(DOMAIN.admit(state, 12_000).is_err());
        assert!(
            DOMAIN.admit(state, 10 * 60_000).is_ok(),
            "a full bucket again"
        );
    }

    #[test]
    fn per_minute_spreads_the_minute() {
        let rate = Rate::per_minute(60);
        assert_eq!((rate.burst, rate.every), (60, Duration::from_secs(1)));
        assert_eq!(Rate::per_minute(0).burst, 1);
    }

    proptest! {
        /// Over any sequence of requests, no more are admitted than the burst plus one per
        /// interval elapsed, and a refusal's wait is never longer than one interval.
        #[test]
        fn never_more_than_the_burst_plus_the_rate(
            gaps in proptest::collection::vec(0i64..20_000, 1..200),
            burst in 1u32..10,
            every_s in 1u64..30,
        ) {
            let rate = Rate { burst, every: Duration::from_secs(every_s) };
            let (mut state, mut now, mut admitted) = (None, 0i64, 0i64);
            for gap in gaps {
                now += gap;
                match rate.admit(state, now) {
                    Ok(next) => {
                        state = Some(next);
                        admitted += 1;
                    }
                    Err(wait) => prop_assert!(wait <= rate.every),
                }
                let allowed = i64::from(burst) + now / (every_s as i64 * 1000);
                prop_assert!(admitted <= allowed, "{admitted} > {allowed}");
            }
        }
    }
}
