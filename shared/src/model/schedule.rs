//! When a pending domain is looked at next, and whether that look is a full check or a
//! probe: looked at often while its owner is most likely publishing, fully checked only
//! when a probe sees a record arrive or on a sparse ladder of its own.

use time::Duration;

use super::Timestamp;

/// How long a domain may stay pending before it is `failed` (SES's own window).
pub const VERIFICATION_WINDOW: Duration = Duration::hours(72);

/// The sweep runs every minute, but not to the second (the scheduler's start times
/// jitter, and a run's `now` is read when it reaches the domain). A look scheduled a
/// whole step after the last one would often just miss the sweep that step later and wait
/// a step more; scheduled this much earlier, it lands on that sweep.
pub const SWEEP_SLACK: Duration = Duration::seconds(15);

/// The first hour after registration, when most owners publish: looked at every minute.
pub const EAGER_FOR: Duration = Duration::hours(1);
/// Until the end of the first day: every two minutes.
pub const STEADY_FOR: Duration = Duration::hours(24);

/// The wait between two looks at a domain pending for `age`: 1 minute in the first hour,
/// 2 until 24 hours, 5 until the verification window closes.
pub fn pending_step(age: Duration) -> Duration {
    if age < EAGER_FOR {
        Duration::minutes(1)
    } else if age < STEADY_FOR {
        Duration::minutes(2)
    } else {
        Duration::minutes(5)
    }
}

/// When a domain pending since `since` is looked at after a look at `now`.
pub fn next_look(since: Timestamp, now: Timestamp) -> Timestamp {
    let age = now.datetime() - since.datetime();
    now.plus(pending_step(age) - SWEEP_SLACK)
}

/// Full checks fall due at these ages (the old backoff ladder: at registration, then 1, 6,
/// 21 and 81 minutes) and every [`FULL_CHECK_EVERY`] after the last: a record a probe
/// cannot see (one published out of the order probes ask, a server that stopped
/// answering) is found at least as soon as it was before probes existed.
const FULL_CHECK_AGES: [Duration; 5] = [
    Duration::ZERO,
    Duration::minutes(1),
    Duration::minutes(6),
    Duration::minutes(21),
    Duration::minutes(81),
];
pub const FULL_CHECK_EVERY: Duration = Duration::hours(6);

/// The latest age at or before `age` at which a full check falls due.
fn last_full_check_age(age: Duration) -> Duration {
    let last_fixed = FULL_CHECK_AGES[FULL_CHECK_AGES.len() - 1];
    if age >= last_fixed {
        let periods = (age - last_fixed).whole_seconds() / FULL_CHECK_EVERY.whole_seconds();
        return last_fixed + FULL_CHECK_EVERY * periods as i32;
    }
    FULL_CHECK_AGES
        .into_iter()
        .rev()
        .find(|at| *at <= age)
        .unwrap_or(Duration::ZERO)
}

/// Whether the sweep's look at a pending domain at `now` must be a full check: none was
/// made since the last time one fell due, or the verification window has closed (only a
/// full check may fail a domain).
/// `since` is the start of the window, `last` the last full check.
pub fn full_check_due(since: Option<Timestamp>, last: Option<Timestamp>, now: Timestamp) -> bool {
    let (Some(since), Some(last)) = (since, last) else {
        return true;
    };
    let age = now.datetime() - since.datetime();
    if age >= VERIFICATION_WINDOW {
        return true;
    }
    let due_at = since.datetime() + last_full_check_age(age);
    last.datetime() < due_at
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_704_873_600;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_unix(START + minutes * 60)
    }

    #[test]
    fn looks_are_every_minute_then_two_then_five() {
        let since = at(0);
        let wait = |age_min: i64| {
            (next_look(since, at(age_min)).datetime() - at(age_min).datetime()).whole_seconds()
        };
        assert_eq!(wait(0), 45);
        assert_eq!(wait(59), 45);
        assert_eq!(wait(60), 105);
        assert_eq!(wait(24 * 60 - 1), 105);
        assert_eq!(wait(24 * 60), 285);
        assert_eq!(wait(71 * 60), 285);
    }

    #[test]
    fn full_checks_follow_the_old_ladder_then_every_six_hours() {
        let since = Some(at(0));
        let mut state = (since, None);
        let due = |(since, last): (Option<Timestamp>, Option<Timestamp>), now| {
            full_check_due(since, last, now)
        };
        assert!(due(state, at(0)), "never checked");
        state.1 = Some(at(0));
        assert!(!due(state, at(0)));
        assert!(due(state, at(1)));
        state.1 = Some(at(1));
        assert!(!due(state, at(5)));
        assert!(due(state, at(6)));
        state.1 = Some(at(6));
        assert!(!due(state, at(20)));
        assert!(due(state, at(21)));
        state.1 = Some(at(21));
        assert!(!due(state, at(80)));
        assert!(due(state, at(81)));
        state.1 = Some(at(81));
        assert!(!due(state, at(81 + 359)));
        assert!(due(state, at(81 + 360)));
        // A verify between ladder times counts as the full check due.
        state.1 = Some(at(81 + 361));
        assert!(!due(state, at(81 + 700)));
        // The window's close is decided by a full check.
        state.1 = Some(at(72 * 60 - 1));
        assert!(due(state, at(72 * 60)));
    }
}
