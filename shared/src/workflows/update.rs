//! Changing a domain on request (`PATCH /:id`): its status, as the state machine allows,
//! and whether it is the organization's default.

use super::Conflicts;
use crate::App;
use crate::error::ApiError;
use crate::model::{Domain, DomainId, OrgId, Status};
use crate::store::{DomainUpdate, StoreError};

/// What a caller asked to change; at least one of the two.
#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub is_default: Option<bool>,
    pub status: Option<Status>,
}

/// Applies `change` to the domain and returns it as updated.
pub async fn update_domain(
    app: &App,
    org: &OrgId,
    id: &DomainId,
    change: Change,
) -> Result<Domain, ApiError> {
    let mut conflicts = Conflicts::default();
    loop {
        let current = app
            .store()
            .get_domain(org, id)
            .await?
            .ok_or(ApiError::DomainNotFound)?;
        let now = app.now();
        let state = match change.status {
            None => None,
            Some(requested) => {
                let from = current.state.status;
                let to = from
                    .on_request(requested, current.state.verified_at.is_some())
                    .ok_or_else(|| ApiError::InvalidStatusTransition {
                        from: from.to_string(),
                        to: requested.to_string(),
                    })?;
                Some(current.state.moved_to(to, now).scheduled(
                    current.setup.dkim_next.is_some(),
                    app.watch_interval(),
                    now,
                ))
            }
        };
        let update = DomainUpdate {
            setup: None,
            state,
            default: change.is_default,
            at: now,
        };
        match app.store().update_domain(&current, &update).await {
            Ok(updated) => return Ok(updated),
            // Someone else changed the domain since it was read: decide again on fresh data.
            Err(StoreError::Conflict) => conflicts.lost().await?,
            Err(other) => return Err(other.into()),
        }
    }
}
