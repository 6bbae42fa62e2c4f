use lambda_http::http::StatusCode;
use serde::Deserialize;

use super::request::{domain_id, json_body, present};
use super::response::json;
use super::views::Updated;
use super::{Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::{OrgId, Status};
use crate::store::{DomainUpdate, StoreError, backoff};

/// A PATCH that keeps losing to concurrent writers is told to retry after this many tries.
const ATTEMPTS: usize = 5;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateRequest {
    #[serde(default, deserialize_with = "present")]
    is_default: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    status: Option<Status>,
}

pub async fn handle(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let id = domain_id(request)?;
    let body: UpdateRequest = json_body(request)?;
    if body.is_default.is_none() && body.status.is_none() {
        return Err(ApiError::Validation(
            "nothing to update: give isDefault and/or status".into(),
        ));
    }
    for attempt in 0..ATTEMPTS {
        let current = app
            .store()
            .get_domain(org, &id)
            .await?
            .ok_or(ApiError::DomainNotFound)?;
        let now = app.now();
        let state = match body.status {
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
            default: body.is_default,
            at: now,
        };
        match app.store().update_domain(&current, &update).await {
            Ok(updated) => return Ok(json(StatusCode::OK, &Updated::from(&updated))),
            // Someone else changed the domain since we read it: decide again on fresh data.
            Err(StoreError::Conflict) => backoff(attempt).await,
            Err(other) => return Err(other.into()),
        }
    }
    Err(StoreError::Conflict.into())
}
