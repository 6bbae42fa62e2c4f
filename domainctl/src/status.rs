//! `domainctl status`: what is waiting in a table, for whoever is on call. Each figure is
//! one that an alarm watches in a deployment, read from the table itself; and the
//! webhook retries waiting, which no alarm watches yet.

use serde::Serialize;

use domains::model::Timestamp;
use domains::store::{Store, StoreError, StuckEvents, WaitingDeliveries};

/// Most due domains counted; beyond it the backlog reads as "at least".
pub const DUE_COUNTED: usize = 100_000;

/// How old an undelivered event must be to count as stuck: `publish-events` delivers
/// within seconds, and the stream gives up after 24 hours.
pub const STUCK_AFTER: time::Duration = time::Duration::minutes(15);

/// A due domain waiting longer than this means the sweep is behind (the alarm's threshold).
pub const BEHIND_AFTER: time::Duration = time::Duration::minutes(20);

/// A webhook retry due longer ago than this means retries are not being made: the
/// deliverer takes what is due every minute (locally, every second).
pub const RETRY_LATE_AFTER: time::Duration = time::Duration::minutes(10);

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub checked_at: Timestamp,
    /// Domains whose scheduled check is due now (at most [`DUE_COUNTED`]).
    pub due: usize,
    /// When the most overdue domain fell due, and how long ago in seconds.
    pub oldest_due: Option<Timestamp>,
    pub oldest_due_age_seconds: Option<i64>,
    /// Lifecycle events written over [`STUCK_AFTER`] ago and never delivered.
    pub undelivered_events: StuckEvents,
    /// Registrations that died part-way and have not been undone yet.
    pub expired_reservations: usize,
    /// Webhook deliveries waiting for a retry, due or not (at most [`DUE_COUNTED`]), the
    /// endpoints they are for, and when the earliest is due. Endpoints failing are their
    /// owners' to fix (each sees its deliveries log), so they are shown, not attention.
    pub webhook_retries: WaitingDeliveries,
    /// How long the earliest retry has been due; `None` while none is.
    pub webhook_retry_overdue_seconds: Option<i64>,
    /// What needs someone's attention, in words; empty when all is well.
    pub attention: Vec<String>,
}

/// Reads the figures of `store` at `now`.
pub async fn read(store: &dyn Store, now: Timestamp) -> Result<Status, StoreError> {
    let due = store.due_domains(now, DUE_COUNTED).await?.len();
    let oldest_due = store.oldest_due(now).await?;
    let age = oldest_due.map(|at| (now.datetime() - at.datetime()).whole_seconds());
    let undelivered_events = store.stuck_events(now.plus(-STUCK_AFTER)).await?;
    let expired_reservations = store.expired_reservations(now, DUE_COUNTED).await?.len();
    let webhook_retries = store.waiting_deliveries(DUE_COUNTED).await?;
    let retry_overdue = webhook_retries
        .earliest_due
        .map(|at| (now.datetime() - at.datetime()).whole_seconds())
        .filter(|overdue| *overdue >= 0);
    let mut attention = Vec::new();
    if let Some(age) = age.filter(|age| *age > BEHIND_AFTER.whole_seconds()) {
        attention.push(format!(
            "the sweep is behind: a domain has waited {} minutes for its check",
            age / 60
        ));
    }
    if undelivered_events.count > 0 {
        attention.push(format!(
            "{} lifecycle event(s) written over {} minutes ago were never delivered",
            undelivered_events.count,
            STUCK_AFTER.whole_minutes()
        ));
    }
    if undelivered_events.unreadable > 0 {
        attention.push(format!(
            "{} outbox item(s) cannot be read, so are never delivered",
            undelivered_events.unreadable
        ));
    }
    if expired_reservations > 0 {
        attention.push(format!(
            "{expired_reservations} registration(s) died part-way; the next sweep undoes them"
        ));
    }
    if let Some(overdue) = retry_overdue.filter(|s| *s > RETRY_LATE_AFTER.whole_seconds()) {
        attention.push(format!(
            "webhook retries are not being made: one has been due for {} minutes \
             (is deliver-webhooks' schedule running?)",
            overdue / 60
        ));
    }
    Ok(Status {
        checked_at: now,
        due,
        oldest_due,
        oldest_due_age_seconds: age,
        undelivered_events,
        expired_reservations,
        webhook_retries,
        webhook_retry_overdue_seconds: retry_overdue,
        attention,
    })
}
