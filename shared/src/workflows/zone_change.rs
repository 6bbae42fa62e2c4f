//! Our own writes go live at once: the Route 53 change that wrote a domain's records is
//! remembered, and the sweep follows it until `INSYNC`, then checks the domain right away
//! instead of waiting for the schedule to find the records.

use super::{Conflicts, reread};
use crate::App;
use crate::model::Domain;
use crate::store::{DomainUpdate, StoreError};

/// Where the domain's own change stands, as the sweep sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// No change of ours is travelling (none made, or seen in sync already).
    None,
    /// Every server of the zone serves it: check now.
    InSync,
    /// Still reaching the servers: a check now would find what a check a minute ago did.
    Pending,
}

/// Records `change` as the domain's change to follow; the domain as stored. Best effort:
/// a domain whose change is not written down is still found by its schedule.
pub async fn remember(app: &App, domain: Domain, change: String) -> Domain {
    let mut current = domain;
    let mut conflicts = Conflicts::default();
    loop {
        let mut state = current.state.clone();
        state.zone_change = Some(change.clone());
        // Due now: the sweep's next run asks Route 53 whether the change is served yet.
        state.next_check_at = state.next_check_at.map(|_| app.now());
        let update = DomainUpdate {
            state: Some(state),
            setup: None,
            default: None,
            at: app.now(),
        };
        let lost = match app.store().update_domain(&current, &update).await {
            Ok(stored) => return stored,
            Err(StoreError::Conflict) => conflicts.lost().await.is_err(),
            Err(_) => true,
        };
        let reread = if lost {
            None
        } else {
            reread(app, &current).await.ok()
        };
        match reread {
            Some(fresh) => current = fresh,
            None => {
                tracing::warn!(domain = %current.name, change = %change, "could not write down the Route 53 change to follow; the schedule finds the records");
                return current;
            }
        }
    }
}

/// Asks Route 53 about the domain's change, if it has one. A failure to ask is logged and
/// counts as no change to follow: the domain is checked as its schedule says.
pub async fn follow(app: &App, domain: &Domain) -> Followed {
    let (Some(change), Some(zones)) = (&domain.state.zone_change, &app.cloud().zones) else {
        return Followed::None;
    };
    match zones.change_in_sync(change).await {
        Ok(true) => Followed::InSync,
        Ok(false) => Followed::Pending,
        Err(error) => {
            tracing::warn!(domain = %domain.name, change = %change, error = %error, "could not ask Route 53 about the change");
            Followed::None
        }
    }
}
