//! The sweep: finds domains whose scheduled look is due (pending ones on their schedule,
//! active ones once a day), looks at them with bounded concurrency (a full check, or for a
//! pending domain between full checks a one-query probe), and records the outcome (active,
//! degraded or recovered, next look, or failed).

use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use serde::Serialize;
use tokio::time::Instant;
use tracing::Instrument;

use super::provision::reclaim;
use super::verify::check_and_apply;
use super::zone_change::{Followed, follow};
use crate::App;
use crate::dns::budget::Budget;
use crate::dns::{Probe, Session};
use crate::error::ApiError;
use crate::fair_queue::FairQueue;
use crate::metrics;
use crate::model::schedule::{SWEEP_SLACK, full_check_due, next_look};
use crate::model::{DomainId, DomainState, EventType, OrgId, Status, Timestamp};
use crate::store::{DomainUpdate, NameHolder, StoreError};

#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Domains verified at once.
    pub concurrency: usize,
    /// Of those, at most this share (in percent, at least one domain) of one organization:
    /// an organization with many slow or hostile domains cannot hold the whole run.
    pub org_share_percent: usize,
    /// Most domains one run takes on.
    pub max_domains: usize,
    /// No new domain is started when less than this is left before the deadline: the
    /// longest one check can take (DNS retries plus two writes).
    pub margin: Duration,
    /// A domain being checked is hidden from other runs for this long, so overlapping
    /// runs never check it twice; a run that dies mid-check frees it after this.
    pub claim_for: time::Duration,
    /// How pending domains are looked at.
    pub pending: PendingSchedule,
}

/// How the sweep looks at pending domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PendingSchedule {
    /// Every 1 to 5 minutes (see `model::schedule`), probing between full checks.
    #[default]
    Probing,
    /// Full checks on the backoff ladder only (1, 5, 15 minutes, 1 hour, then every
    /// 6 hours), as before probes: the benchmark's baseline.
    Backoff,
}

impl Default for SweepOptions {
    fn default() -> Self {
        Self {
            concurrency: 64,
            org_share_percent: 25,
            max_domains: 50_000,
            margin: Duration::from_secs(30),
            claim_for: time::Duration::minutes(5),
            pending: PendingSchedule::Probing,
        }
    }
}

/// What one run did: logged as one line, and returned by the Lambda.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSummary {
    /// Due when the run started.
    pub due: usize,
    /// Fully checked against DNS by this run.
    pub checked: usize,
    /// Pending domains only probed (one record at one server), found as they were.
    pub probed: usize,
    /// Domains left alone because their records' Route 53 change is not yet in sync.
    pub awaiting_change: usize,
    /// DNS queries the run sent (full checks and probes, resends included).
    pub queries: usize,
    pub activated: usize,
    /// Active domains whose required records stopped verifying at this check.
    pub degraded: usize,
    /// Degraded domains whose records verify again.
    pub recovered: usize,
    pub failed: usize,
    /// Changed, taken by another run, or deleted since they were found due.
    pub skipped: usize,
    /// Registrations that died part-way, undone (their identity and records removed, their
    /// name freed).
    pub reclaimed: usize,
    /// Left for the next run because the deadline was near.
    pub deferred: usize,
    pub errors: usize,
    pub elapsed_ms: u64,
}

enum Outcome {
    Checked,
    Probed,
    AwaitingChange,
    Activated,
    Degraded,
    Recovered,
    Failed,
    Skipped,
    Deferred,
    Error,
}

/// One run. `deadline` is when the host stops the run (the Lambda's deadline); work not
/// started by `deadline - margin` is left for the next run.
pub async fn sweep(app: &App, deadline: Option<Instant>, options: &SweepOptions) -> SweepSummary {
    let started = Instant::now();
    // Next looks count from the run's start, not from when the run reached the domain: a
    // domain reached late in a long run still lands on the next run, a minute on.
    let run_started = app.now();
    let mut summary = SweepSummary::default();
    let (reclaimed, failed) = reclaim_expired(app, options.max_domains).await;
    summary.reclaimed = reclaimed;
    summary.errors += failed;
    let due = match app
        .store()
        .due_domains(app.now(), options.max_domains)
        .await
    {
        Ok(due) => due,
        Err(error) => {
            tracing::error!(error = %error, "sweep could not list due domains");
            summary.errors += 1;
            summary.elapsed_ms = started.elapsed().as_millis() as u64;
            return summary;
        }
    };
    summary.due = due.len();
    record_backlog(app, due.len()).await;
    // Zones found by one check serve the others of this run (never their answers).
    let session = std::sync::Arc::new(app.dns().session());
    // Each check is a task of its own, so checks run on every worker thread rather than
    // all being polled from this one future.
    let concurrency = options.concurrency.max(1);
    let mut queue = FairQueue::new(due, concurrency, options.org_share_percent);
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < concurrency {
            let Some((org, id)) = queue.next() else {
                break;
            };
            let (app, options, session) = (app.clone(), options.clone(), session.clone());
            // In the run's span, so a check's lines carry the invocation's request and trace ids.
            let check = tokio::spawn({
                let org = org.clone();
                async move {
                    if deadline.is_some_and(|d| Instant::now() + options.margin >= d) {
                        return Outcome::Deferred;
                    }
                    match sweep_one(&app, &session, &org, &id, &options, run_started).await {
                        Ok(outcome) => outcome,
                        Err(error) => {
                            tracing::error!(org = %org, domain_id = %id, error = %error, "sweep check failed");
                            Outcome::Error
                        }
                    }
                }
            }.in_current_span());
            running.push(check.map(move |joined| (org, joined)));
        }
        let Some((org, joined)) = running.next().await else {
            break;
        };
        queue.done(&org);
        // A check that panicked is an error of this run, not the end of it.
        let outcome = joined.unwrap_or_else(|error| {
            tracing::error!(error = %error, "a sweep check panicked");
            Outcome::Error
        });
        match outcome {
            Outcome::Checked => summary.checked += 1,
            Outcome::Probed => summary.probed += 1,
            Outcome::AwaitingChange => summary.awaiting_change += 1,
            Outcome::Activated => {
                summary.checked += 1;
                summary.activated += 1;
            }
            Outcome::Degraded => {
                summary.checked += 1;
                summary.degraded += 1;
            }
            Outcome::Recovered => {
                summary.checked += 1;
                summary.recovered += 1;
            }
            Outcome::Failed => {
                summary.checked += 1;
                summary.failed += 1;
            }
            Outcome::Skipped => summary.skipped += 1,
            Outcome::Deferred => summary.deferred += 1,
            Outcome::Error => summary.errors += 1,
        }
    }
    summary.queries = session.queries_sent();
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        due = summary.due,
        checked = summary.checked,
        probed = summary.probed,
        awaiting_change = summary.awaiting_change,
        queries = summary.queries,
        activated = summary.activated,
        degraded = summary.degraded,
        recovered = summary.recovered,
        failed = summary.failed,
        skipped = summary.skipped,
        reclaimed = summary.reclaimed,
        deferred = summary.deferred,
        errors = summary.errors,
        elapsed_ms = summary.elapsed_ms,
        "sweep finished"
    );
    summary
}

/// How far behind the sweep is, as it starts: domains due, and how long the most overdue
/// has waited (what the backlog alarm watches).
async fn record_backlog(app: &App, due: usize) {
    metrics::record(&metrics::SWEEP_BACKLOG, &[], due as f64);
    let now = app.now();
    match app.store().oldest_due(now).await {
        Ok(oldest) => {
            let waited = oldest.map_or(0.0, |at| {
                (now.datetime() - at.datetime()).as_seconds_f64().max(0.0)
            });
            metrics::record(&metrics::OLDEST_DUE_AGE, &[], waited);
        }
        Err(error) => tracing::warn!(error = %error, "the oldest due domain could not be read"),
    }
}

/// Undoes the registrations whose reservation ran out (they died part-way); returns how
/// many were undone and how many could not be (left for the next run).
async fn reclaim_expired(app: &App, limit: usize) -> (usize, usize) {
    let names = match app.store().expired_reservations(app.now(), limit).await {
        Ok(names) => names,
        Err(error) => {
            tracing::error!(error = %error, "sweep could not list expired reservations");
            return (0, 1);
        }
    };
    let (mut reclaimed, mut failed) = (0, 0);
    for name in names {
        // The index may lag: decide on the name's item as it is now.
        let held = match app.store().name_holder(&name).await {
            Ok(Some(NameHolder::Reservation(held))) if held.until < app.now() => held,
            Ok(_) => continue,
            Err(error) => {
                tracing::error!(domain = %name, error = %error, "sweep could not read a reservation");
                failed += 1;
                continue;
            }
        };
        match reclaim(app, &held).await {
            Ok(()) => reclaimed += 1,
            Err(error) => {
                tracing::error!(domain = %name, error = %error, "sweep could not undo a registration");
                failed += 1;
            }
        }
    }
    (reclaimed, failed)
}

async fn sweep_one(
    app: &App,
    session: &Session,
    org: &OrgId,
    id: &DomainId,
    options: &SweepOptions,
    run_started: Timestamp,
) -> Result<Outcome, ApiError> {
    let now = app.now();
    let Some(current) = app.store().get_domain(org, id).await? else {
        return Ok(Outcome::Skipped);
    };
    // Pending domains, and active ones: watched, or waiting for a rotation's record.
    let awaited = matches!(current.state.status, Status::Pending | Status::Active);
    let due = awaited && current.state.next_check_at.is_some_and(|at| at <= now);
    if !due {
        return Ok(Outcome::Skipped);
    }
    let look = match follow(app, &current).await {
        Followed::Pending => Look::AwaitChange,
        Followed::InSync => Look::Full,
        Followed::None
            if options.pending == PendingSchedule::Probing
                && current.state.status == Status::Pending
                && current.state.last_check.is_some()
                && !full_check_due(
                    current.state.pending_since,
                    current.state.last_checked_at,
                    now,
                ) =>
        {
            Look::Probe
        }
        Followed::None => Look::Full,
    };
    // Claim it, conditionally on the version read: of two overlapping runs, only one wins
    // and looks. A full check pushes the next look past this run (its outcome sets the
    // real one); a probe or a wait is over in a moment, so its claim is its next look
    // already, and a probe that finds nothing costs one write.
    // A probe with no server to ask (the last check heard none, or only ones that serve
    // the record already) would cost a write a minute for nothing: the next full check is
    // the next look, at most a long step away.
    let blind = look == Look::Probe
        && !current
            .state
            .last_check
            .as_ref()
            .is_some_and(|last| app.dns().can_probe(last));
    // Never in the past, so an overlapping run does not look at it again.
    let soonest = now.plus(time::Duration::seconds(1));
    let mut claimed_state = current.state.clone();
    claimed_state.next_check_at = Some(match look {
        Look::Full => now.plus(options.claim_for),
        Look::Probe if blind => now.plus(BLIND_WAIT - SWEEP_SLACK),
        Look::Probe => {
            next_look(current.state.pending_since.unwrap_or(now), run_started).max(soonest)
        }
        Look::AwaitChange => run_started
            .plus(time::Duration::minutes(1) - SWEEP_SLACK)
            .max(soonest),
    });
    if look == Look::Full {
        // Followed to the end, or never made: the check below settles it either way.
        claimed_state.zone_change = None;
    }
    let claim = DomainUpdate {
        setup: None,
        state: Some(claimed_state),
        default: None,
        at: now,
    };
    let claimed = match app.store().update_domain(&current, &claim).await {
        Ok(claimed) => claimed,
        Err(StoreError::Conflict | StoreError::NotFound) => return Ok(Outcome::Skipped),
        Err(other) => return Err(other.into()),
    };
    match look {
        Look::AwaitChange => return Ok(Outcome::AwaitingChange),
        Look::Probe => {
            let probe = match &claimed.state.last_check {
                Some(last) if !blind => {
                    app.dns()
                        .probe(session, &claimed, last, &Budget::single())
                        .await
                }
                _ => Probe::Blind,
            };
            // Blind: the last check heard from no server; the next full check looks again.
            if probe != Probe::Changed {
                return Ok(Outcome::Probed);
            }
            // A server whose answers keep changing (or that lies to probes) buys at most one
            // full check per `PROBED_CHECK_GAP`; a real publish waits that long at most.
            let recent = current
                .state
                .last_checked_at
                .is_some_and(|at| now.datetime() - at.datetime() < PROBED_CHECK_GAP);
            if recent {
                return Ok(Outcome::Probed);
            }
        }
        Look::Full => {}
    }
    let transition = match options.pending {
        PendingSchedule::Probing => DomainState::after_scheduled_check,
        PendingSchedule::Backoff => DomainState::after_backoff_check,
    };
    let checked = check_and_apply(app, session, claimed, transition).await;
    let (stored, _) = match checked {
        Ok(done) => done,
        Err(ApiError::DomainNotFound) => return Ok(Outcome::Skipped),
        Err(other) => return Err(other),
    };
    // Retired DKIM records old enough leave a managed zone with the domain's check.
    super::rotate_dkim::remove_retired(app, &stored).await;
    // Counted as the change's event says: a domain announced verified is one activated.
    Ok(match EventType::of_change(&current.state, &stored.state) {
        Some(EventType::Verified) => Outcome::Activated,
        Some(EventType::Degraded) => Outcome::Degraded,
        Some(EventType::Recovered) => Outcome::Recovered,
        Some(EventType::Failed) => Outcome::Failed,
        // Still pending, still healthy, or suspended while it was being checked.
        _ => Outcome::Checked,
    })
}

/// The least time between two full checks of a domain that a probe asks for.
pub const PROBED_CHECK_GAP: time::Duration = time::Duration::minutes(2);

/// The next look at a domain a probe cannot help with: the step of the window's last days.
const BLIND_WAIT: time::Duration = time::Duration::minutes(5);

/// What the sweep does with a due domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// Every record at every server: findings stored, status decided.
    Full,
    /// One record at one server; a full check follows in the same run if it is served.
    Probe,
    /// Nothing asked: the records' own change is still reaching the servers.
    AwaitChange,
}
