//! `PATCH /:id`: changes a domain's status or whether it is the default.

use lambda_http::http::StatusCode;
use serde::Deserialize;

use super::request::{domain_id, json_body, present};
use super::response::json;
use super::views::Updated;
use super::{Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::{OrgId, Status};
use crate::workflows::update::{Change, update_domain};

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
    let change = Change {
        is_default: body.is_default,
        status: body.status,
    };
    let updated = update_domain(app, org, &id, change).await?;
    Ok(json(StatusCode::OK, &Updated::from(&updated)))
}
