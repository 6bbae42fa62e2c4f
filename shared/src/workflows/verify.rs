//! Verifying a domain: check its DNS, record the findings, activate it when its required
//! records pass. Shared by `POST /:id/verify` and the sweep.

use super::rotate_dkim::{promoted, repair_record, switch_if_published};
use super::{Conflicts, reread};
use crate::App;
use crate::dns::Session;
use crate::error::ApiError;
use crate::metrics;
use crate::model::{CheckReport, Domain, DomainState, EventType};
use crate::store::{DomainUpdate, StoreError};

/// DNS as the world sees it and, where SES is in use, SES's own view, side by side.
async fn check(app: &App, session: &Session, domain: &Domain) -> CheckReport {
    let ses_view = async {
        let ses = app.cloud().ses.as_ref()?;
        match ses.view(domain.region, &domain.name).await {
            Ok(view) => view,
            Err(error) => {
                // SES's view is informative; DNS alone decides, so a failure only logs.
                tracing::warn!(domain = %domain.name, error = %error, "SES view unavailable");
                None
            }
        }
    };
    let (mut report, ses) = tokio::join!(app.dns().check_in(session, domain, app.now()), ses_view);
    report.ses = ses;
    report
}

/// Checks `domain` now (`POST /:id/verify`) and stores the outcome with
/// [`DomainState::after_check`].
pub async fn verify(app: &App, domain: Domain) -> Result<(Domain, CheckReport), ApiError> {
    check_and_apply(app, &app.dns().session(), domain, DomainState::after_check).await
}

/// Checks `domain` now and stores `transition(state, report)` with a write conditional on
/// the domain's version; if the domain changed meanwhile, the same findings are applied to
/// its new state (a concurrent suspension is never undone). A DKIM rotation whose new
/// record the check found published is completed (SES first, then the table). Returns the
/// domain as stored and the report. `session` caches zones across the checks of one run.
pub async fn check_and_apply(
    app: &App,
    session: &Session,
    domain: Domain,
    transition: fn(&DomainState, &CheckReport) -> DomainState,
) -> Result<(Domain, CheckReport), ApiError> {
    let mut report = check(app, session, &domain).await;
    let switched = switch_if_published(app, &domain, &report).await;
    if !switched {
        repair_record(app, &domain, &report).await;
    }
    let switched_to = switched.then(|| domain.setup.dkim_next.clone()).flatten();
    if switched_to.is_some() {
        report = report.with_next_dkim_current();
        // SES's view was read before the switch: read it again, so the answer shows the
        // key SES signs with now.
        if let Some(ses) = &app.cloud().ses
            && let Ok(Some(view)) = ses.view(domain.region, &domain.name).await
        {
            report.ses = Some(view);
        }
    }
    let now = report.checked_at;
    let mut current = domain;
    let mut conflicts = Conflicts::default();
    loop {
        // Promoted only if the table still holds the key SES was switched to (another
        // check may have completed the rotation meanwhile).
        let setup = switched_to
            .as_ref()
            .filter(|next| current.setup.dkim_next.as_ref() == Some(*next))
            .and_then(|_| promoted(&current.setup, now));
        let rotating = setup.as_ref().unwrap_or(&current.setup).dkim_next.is_some();
        let update = DomainUpdate {
            state: Some(transition(&current.state, &report).scheduled(
                rotating,
                app.watch_interval(),
                now,
            )),
            setup,
            default: None,
            at: now,
        };
        match app.store().update_domain(&current, &update).await {
            Ok(updated) => {
                count_change(&current, &updated);
                return Ok((updated, report));
            }
            Err(StoreError::Conflict) => {
                conflicts.lost().await?;
                current = reread(app, &current).await?;
            }
            Err(other) => return Err(other.into()),
        }
    }
}

/// Counts what a check changed, by the rule its event follows.
fn count_change(before: &Domain, after: &Domain) {
    let metric = match EventType::of_change(&before.state, &after.state) {
        Some(EventType::Verified) => &metrics::ACTIVATIONS,
        Some(EventType::Degraded) => &metrics::DEGRADATIONS,
        Some(EventType::Failed) => &metrics::FAILURES,
        _ => return,
    };
    metrics::count(metric, &[]);
}
