//! `/api/email/webhooks`: an organization's webhook endpoints, one thin handler per
//! operation around [`crate::workflows::webhooks`].

use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::request::{Query, json_body, path_id, present};
use super::response::json;
use super::{Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::webhook::{Attempt, Webhook, WebhookStatus};
use crate::model::{OrgId, Timestamp, WebhookId};
use crate::workflows::webhooks::{self as flows, NewWebhook, WebhookChange, WithSecret};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// An endpoint as the API shows it: never a secret.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookView<'a> {
    id: &'a WebhookId,
    url: &'a str,
    events: &'a [String],
    description: Option<&'a str>,
    status: WebhookStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failing_since: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl<'a> From<&'a Webhook> for WebhookView<'a> {
    fn from(w: &'a Webhook) -> Self {
        Self {
            id: &w.id,
            url: &w.url,
            events: &w.events,
            description: w.description.as_deref(),
            status: w.status,
            disabled_reason: w.disabled_reason.as_deref(),
            failing_since: w.failing_since,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// A new endpoint: the view and, once, its secret.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created<'a> {
    #[serde(flatten)]
    webhook: WebhookView<'a>,
    secret: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateRequest {
    url: String,
    #[serde(default, deserialize_with = "present")]
    events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateRequest {
    #[serde(default, deserialize_with = "present")]
    url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    status: Option<WebhookStatus>,
}

/// The `{id}` path parameter; malformed is as unknown as another organization's.
fn webhook_id(request: &Request) -> Result<WebhookId, ApiError> {
    path_id(request)
        .and_then(WebhookId::parse)
        .ok_or(ApiError::WebhookNotFound)
}

/// `GET /`: the endpoints, oldest first; `cursor` is the id of the last endpoint of the
/// previous page (endpoint ids are no secret to their organization, and a page holds its
/// organization's endpoints only).
pub async fn list(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let query = Query::parse(request, &["limit", "cursor"])?;
    let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = query
        .get("cursor")
        .map(|text| {
            WebhookId::parse(text).ok_or_else(|| {
                ApiError::Validation(
                    "cursor is not valid for this list: pass the nextCursor of the previous \
                     page unchanged"
                        .into(),
                )
            })
        })
        .transpose()?;
    let all = app.store().list_webhooks(org).await?;
    let rest: Vec<&Webhook> = all
        .iter()
        .filter(|w| after.as_ref().is_none_or(|after| &w.id > after))
        .collect();
    let page: Vec<WebhookView> = rest
        .iter()
        .take(limit)
        .map(|w| WebhookView::from(*w))
        .collect();
    let next_cursor = (rest.len() > limit)
        .then(|| page.last().map(|w| w.id.to_string()))
        .flatten();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "webhooks": page, "total": all.len(), "nextCursor": next_cursor }),
    ))
}

pub async fn create(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let body: CreateRequest = json_body(request)?;
    let created = flows::create(
        app,
        org,
        NewWebhook {
            url: body.url,
            events: body.events,
            description: body.description,
        },
    )
    .await?;
    let mut response = with_secret(StatusCode::CREATED, &created);
    let location = format!("{}/{}", super::WEBHOOKS_PATH, created.webhook.id);
    if let Ok(location) = lambda_http::http::HeaderValue::from_str(&location) {
        response
            .headers_mut()
            .insert(lambda_http::http::header::LOCATION, location);
    }
    Ok(response)
}

fn with_secret(status: StatusCode, made: &WithSecret) -> Response {
    json(
        status,
        &Created {
            webhook: WebhookView::from(&made.webhook),
            secret: &made.secret,
        },
    )
}

pub async fn get(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let webhook = flows::requested(app, org, &webhook_id(request)?).await?;
    Ok(json(StatusCode::OK, &WebhookView::from(&webhook)))
}

pub async fn update(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let id = webhook_id(request)?;
    let body: UpdateRequest = json_body(request)?;
    if body.url.is_none()
        && body.events.is_none()
        && body.description.is_none()
        && body.status.is_none()
    {
        return Err(ApiError::Validation(
            "nothing to update: give url, events, description and/or status".into(),
        ));
    }
    let change = WebhookChange {
        url: body.url,
        events: body.events,
        description: body.description,
        status: body.status,
    };
    let webhook = flows::update(app, org, &id, change).await?;
    Ok(json(StatusCode::OK, &WebhookView::from(&webhook)))
}

pub async fn delete(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let id = webhook_id(request)?;
    flows::delete(app, org, &id).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "success": true,
            "message": format!("webhook endpoint {id} deleted"),
            "deletedAt": app.now(),
        }),
    ))
}

pub async fn rotate(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let rotated = flows::rotate(app, org, &webhook_id(request)?).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "secret": rotated.secret,
            "previousSecretExpiresAt": rotated
                .webhook
                .secrets
                .get(1)
                .and_then(|s| s.expires_at),
        }),
    ))
}

pub async fn test(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let attempt = flows::test(app, org, &webhook_id(request)?).await?;
    Ok(json(StatusCode::OK, &attempt))
}

/// `GET /:id/deliveries`: the newest attempts first.
pub async fn deliveries(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let query = Query::parse(request, &["limit"])?;
    let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let webhook = flows::requested(app, org, &webhook_id(request)?).await?;
    let attempts: Vec<Attempt> = app.store().recent_attempts(&webhook.id, limit).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "deliveries": attempts }),
    ))
}
