//! The sweep: finds domains whose scheduled check is due (pending ones on their backoff
//! ladder, active ones once a day), verifies them with bounded concurrency, and records
//! the outcome (active, degraded or recovered, next backoff step, or failed).

use std::time::Duration;

use std::collections::{HashMap, VecDeque};

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use serde::Serialize;
use tokio::time::Instant;

use super::provision::reclaim;
use super::verify::check_and_apply;
use crate::App;
use crate::dns::Session;
use crate::error::ApiError;
use crate::metrics;
use crate::model::{DomainId, DomainState, EventType, OrgId, Status};
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
}

impl Default for SweepOptions {
    fn default() -> Self {
        Self {
            concurrency: 64,
            org_share_percent: 25,
            max_domains: 50_000,
            margin: Duration::from_secs(20),
            claim_for: time::Duration::minutes(5),
        }
    }
}

/// What one run did: logged as one line, and returned by the Lambda.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSummary {
    /// Due when the run started.
    pub due: usize,
    /// Checked against DNS by this run.
    pub checked: usize,
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
            let check = tokio::spawn({
                let org = org.clone();
                async move {
                    if deadline.is_some_and(|d| Instant::now() + options.margin >= d) {
                        return Outcome::Deferred;
                    }
                    match sweep_one(&app, &session, &org, &id, &options).await {
                        Ok(outcome) => outcome,
                        Err(error) => {
                            tracing::error!(org = %org, domain_id = %id, error = %error, "sweep check failed");
                            Outcome::Error
                        }
                    }
                }
            });
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
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        due = summary.due,
        checked = summary.checked,
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

/// The order a run takes its due domains in: organizations in turn, and none with more
/// than its share of the run's concurrency in flight while another organization's domains
/// wait. An organization that is the only one with domains left uses every free slot (the
/// share bounds what one takes from the others; alone, it takes nothing from anyone).
struct FairQueue {
    /// Each organization's due domains, organizations in the order they were first due.
    queues: Vec<(OrgId, VecDeque<DomainId>)>,
    in_flight: HashMap<OrgId, usize>,
    per_org: usize,
    /// Where the next turn starts.
    turn: usize,
}

impl FairQueue {
    fn new(due: Vec<(OrgId, DomainId)>, concurrency: usize, share_percent: usize) -> Self {
        let mut queues: Vec<(OrgId, VecDeque<DomainId>)> = Vec::new();
        let mut index: HashMap<OrgId, usize> = HashMap::new();
        for (org, id) in due {
            let at = *index.entry(org.clone()).or_insert_with(|| {
                queues.push((org, VecDeque::new()));
                queues.len() - 1
            });
            queues[at].1.push_back(id);
        }
        Self {
            queues,
            in_flight: HashMap::new(),
            per_org: (concurrency * share_percent / 100).clamp(1, concurrency),
            turn: 0,
        }
    }

    fn next(&mut self) -> Option<(OrgId, DomainId)> {
        let count = self.queues.len();
        let under_share = |org: &OrgId, in_flight: &HashMap<OrgId, usize>| {
            in_flight.get(org).copied().unwrap_or(0) < self.per_org
        };
        let pick = (0..count)
            .map(|step| (self.turn + step) % count)
            .find(|at| {
                let (org, queue) = &self.queues[*at];
                !queue.is_empty() && under_share(org, &self.in_flight)
            })
            .or_else(|| {
                let mut waiting = (0..count).filter(|at| !self.queues[*at].1.is_empty());
                match (waiting.next(), waiting.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            })?;
        let (org, queue) = &mut self.queues[pick];
        let id = queue.pop_front()?;
        *self.in_flight.entry(org.clone()).or_default() += 1;
        self.turn = (pick + 1) % count;
        Some((org.clone(), id))
    }

    fn done(&mut self, org: &OrgId) {
        if let Some(n) = self.in_flight.get_mut(org) {
            *n = n.saturating_sub(1);
        }
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
    // Claim it: push its next check past this run, conditionally on the version read.
    // Of two overlapping runs, only one wins the claim and checks the domain.
    let mut claimed_state = current.state.clone();
    claimed_state.next_check_at = Some(now.plus(options.claim_for));
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
    let checked = check_and_apply(app, session, claimed, DomainState::after_scheduled_check).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn due(org: &str, n: usize) -> Vec<(OrgId, DomainId)> {
        (0..n)
            .map(|_| (OrgId::parse(org).unwrap(), DomainId::generate()))
            .collect()
    }

    fn orgs_of(queue: &mut FairQueue) -> Vec<String> {
        std::iter::from_fn(|| queue.next())
            .map(|(org, _)| org.to_string())
            .collect()
    }

    #[test]
    fn one_organization_takes_its_share_while_others_wait() {
        let mut all = due("org_hostile", 100);
        all.extend(due("org_good", 3));
        let mut queue = FairQueue::new(all, 8, 25);
        // Two each (25% of 8), in turn; then nobody while both are at their share.
        assert_eq!(
            orgs_of(&mut queue),
            ["org_hostile", "org_good", "org_hostile", "org_good"]
        );
        queue.done(&OrgId::parse("org_good").unwrap());
        let (org, _) = queue.next().unwrap();
        assert_eq!(org.as_str(), "org_good");
        // The good organization has nothing left: the other may use every free slot.
        assert_eq!(orgs_of(&mut queue).len(), 98);
    }
}
