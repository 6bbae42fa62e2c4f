//! An organization's webhook endpoints: create (with a secret shown once), change, delete,
//! rotate the secret, and send a test event. The address is judged when it is given, by
//! the same outbound policy delivery applies again at every attempt.

use crate::App;
use crate::aws::SealContext;
use crate::error::ApiError;
use crate::model::webhook::{
    Attempt, MAX_DESCRIPTION_LEN, MAX_URL_LEN, MAX_WEBHOOKS, PREVIOUS_SECRET_SIGNS_FOR, TEST_EVENT,
    Webhook, WebhookEvent, WebhookSecret, WebhookStatus, subscribable_types,
};
use crate::model::{OrgId, Timestamp, WebhookId};
use crate::outbox::webhooks::log_refused_name;
use crate::outbox::webhooks::signature::new_secret;
use crate::store::StoreError;
use crate::workflows::Conflicts;

/// What a create asks for, as read from the request.
pub struct NewWebhook {
    pub url: String,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
}

/// What a change asks for; `None` leaves a field as it is.
#[derive(Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub status: Option<WebhookStatus>,
}

/// An endpoint just made, or just given a new secret: the secret as its owner sees it,
/// once.
pub struct WithSecret {
    pub webhook: Webhook,
    pub secret: String,
}

fn not_found(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::WebhookNotFound,
        other => other.into(),
    }
}

/// The caller's endpoint `id`; another organization's is as unknown as a made-up one.
pub async fn requested(app: &App, org: &OrgId, id: &WebhookId) -> Result<Webhook, ApiError> {
    app.store()
        .get_webhook(org, id)
        .await?
        .ok_or(ApiError::WebhookNotFound)
}

pub async fn create(app: &App, org: &OrgId, new: NewWebhook) -> Result<WithSecret, ApiError> {
    let url = checked_url(app, &new.url, org, None).await?;
    let events = match new.events {
        Some(events) => checked_events(events)?,
        None => subscribable_types()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    let description = new.description.map(checked_description).transpose()?;
    let id = WebhookId::generate();
    let now = app.now();
    let (shown, sealed) = sealed_secret(app, &id, now).await?;
    let webhook = Webhook {
        id,
        org_id: org.clone(),
        url,
        events,
        description,
        status: WebhookStatus::Enabled,
        secrets: vec![sealed],
        created_at: now,
        updated_at: now,
        failing_since: None,
        disabled_reason: None,
        version: 1,
    };
    match app.store().create_webhook(&webhook, MAX_WEBHOOKS).await {
        Ok(()) => Ok(WithSecret {
            webhook,
            secret: shown,
        }),
        Err(StoreError::QuotaExceeded(max)) => Err(ApiError::WebhookLimitReached(max)),
        Err(other) => Err(other.into()),
    }
}

pub async fn update(
    app: &App,
    org: &OrgId,
    id: &WebhookId,
    change: WebhookChange,
) -> Result<Webhook, ApiError> {
    let url = match &change.url {
        Some(url) => Some(checked_url(app, url, org, Some(id)).await?),
        None => None,
    };
    let events = change.events.map(checked_events).transpose()?;
    let description = change.description.map(checked_description).transpose()?;
    rewrite(app, org, id, |webhook, _| {
        if let Some(url) = &url {
            webhook.url = url.clone();
        }
        if let Some(events) = &events {
            webhook.events = events.clone();
        }
        if let Some(description) = &description {
            webhook.description = Some(description.clone());
        }
        if let Some(status) = change.status {
            // Enabling starts afresh: the failures that disabled it are behind it.
            if status == WebhookStatus::Enabled {
                webhook.failing_since = None;
                webhook.disabled_reason = None;
            }
            webhook.status = status;
        }
    })
    .await
}

pub async fn delete(app: &App, org: &OrgId, id: &WebhookId) -> Result<(), ApiError> {
    app.store().delete_webhook(org, id).await.map_err(not_found)
}

/// A new secret signs from now on; the one it replaces signs beside it for 24 hours, and
/// any older one stops.
pub async fn rotate(app: &App, org: &OrgId, id: &WebhookId) -> Result<WithSecret, ApiError> {
    // Known before the secret is sealed, so an unknown id costs no KMS call.
    requested(app, org, id).await?;
    let now = app.now();
    let (shown, sealed) = sealed_secret(app, id, now).await?;
    let webhook = rewrite(app, org, id, |webhook, now| {
        let mut kept: Vec<WebhookSecret> = webhook
            .signing_secrets(now)
            .filter(|s| s.expires_at.is_none())
            .cloned()
            .map(|mut s| {
                s.expires_at = Some(now.plus(PREVIOUS_SECRET_SIGNS_FOR));
                s
            })
            .collect();
        kept.insert(0, sealed.clone());
        webhook.secrets = kept;
    })
    .await?;
    Ok(WithSecret {
        webhook,
        secret: shown,
    })
}

/// Sends a `webhook.test` event to the endpoint once, now, and answers with what the
/// attempt came to; it is logged with the endpoint's deliveries but never retried. Tests
/// are rate-limited per endpoint and per organization: each holds a function for up to
/// the outbound timeout and adds to the log.
pub async fn test(app: &App, org: &OrgId, id: &WebhookId) -> Result<Attempt, ApiError> {
    let webhook = requested(app, org, id).await?;
    let deliverer = app.deliverer()?;
    crate::workflows::limits::admit_webhook_test(app, org, &webhook.id).await?;
    let now = app.now();
    let event = WebhookEvent {
        id: format!("evt_{}", ulid::Ulid::new()),
        event_type: TEST_EVENT.to_owned(),
        org_id: org.clone(),
        occurred_at: now,
        data: serde_json::json!({
            "webhookId": webhook.id,
            "message": "a test event sent on request; no domain changed",
        }),
    };
    let attempt = deliverer.send(&webhook, &event, 1, now).await;
    app.store().record_attempt(&webhook.id, &attempt).await?;
    crate::metrics::count(
        &crate::metrics::WEBHOOK_DELIVERIES,
        &[attempt.outcome.as_str()],
    );
    Ok(attempt)
}

/// Reads the endpoint, changes it with `change` and writes it over what was read, again on
/// fresh data when a concurrent write came between.
async fn rewrite(
    app: &App,
    org: &OrgId,
    id: &WebhookId,
    change: impl Fn(&mut Webhook, Timestamp),
) -> Result<Webhook, ApiError> {
    let mut conflicts = Conflicts::default();
    loop {
        let mut webhook = requested(app, org, id).await?;
        let now = app.now();
        change(&mut webhook, now);
        webhook.version += 1;
        webhook.updated_at = now;
        match app.store().replace_webhook(&webhook).await {
            Ok(()) => return Ok(webhook),
            Err(StoreError::Conflict) => conflicts.lost().await?,
            Err(other) => return Err(not_found(other)),
        }
    }
}

async fn sealed_secret(
    app: &App,
    id: &WebhookId,
    now: Timestamp,
) -> Result<(String, WebhookSecret), ApiError> {
    let (shown, bytes) = new_secret();
    let sealed = app
        .deliverer()?
        .sealer()
        .seal(&bytes, SealContext::Webhook { webhook_id: id })
        .await?;
    Ok((
        shown,
        WebhookSecret {
            sealed,
            created_at: now,
            expires_at: None,
        },
    ))
}

/// `url` if it is one to send to: `https` (plain `http` only into a network an operator
/// allows), no user name or password, at most [`MAX_URL_LEN`] long, and a host whose
/// addresses the outbound policy allows (a name that does not resolve yet is let through:
/// every attempt resolves and judges again). The organization, and the endpoint once it
/// has an id, go into the log of a refused name.
async fn checked_url(
    app: &App,
    text: &str,
    org: &OrgId,
    id: Option<&WebhookId>,
) -> Result<String, ApiError> {
    let invalid = |why: String| ApiError::Validation(format!("url: {why}"));
    if text.len() > MAX_URL_LEN {
        return Err(invalid(format!("at most {MAX_URL_LEN} characters")));
    }
    let url = url::Url::parse(text)
        .map_err(|e| invalid(format!("not an absolute URL ({e}); give https://…")))?;
    let outbound = app.deliverer()?.outbound();
    if let Some(why) = outbound.refusal_of(&url) {
        return Err(invalid(why));
    }
    if url.fragment().is_some() {
        return Err(invalid(
            "a fragment (#…) is never sent; leave it out".into(),
        ));
    }
    if let Some(url::Host::Domain(name)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::net::lookup_host((name, port)),
        )
        .await;
        match lookup {
            Ok(Ok(addresses)) => {
                let ips = addresses.map(|address| address.ip());
                if let Some(refused) = outbound.refusal_of_name(name, ips, url.scheme() == "http") {
                    log_refused_name(org, id, &refused.detail);
                    return Err(invalid(refused.shown));
                }
            }
            _ if url.scheme() == "http" => {
                return Err(invalid(format!(
                    "{name} does not resolve, so it cannot be shown to be in a network where \
                     plain http is allowed: use https"
                )));
            }
            _ => {}
        }
    }
    Ok(url.to_string())
}

/// Distinct known event types, at least one.
fn checked_events(events: Vec<String>) -> Result<Vec<String>, ApiError> {
    let known = subscribable_types();
    if events.is_empty() {
        return Err(ApiError::Validation(
            "events: name at least one event type, or leave events out for all of them".into(),
        ));
    }
    let mut checked: Vec<String> = Vec::new();
    for event in events {
        if !known.contains(&event.as_str()) {
            return Err(ApiError::Validation(format!(
                "events: unknown event type '{}' (known: {})",
                event.chars().take(64).collect::<String>(),
                known.join(", ")
            )));
        }
        if !checked.contains(&event) {
            checked.push(event);
        }
    }
    Ok(checked)
}

fn checked_description(text: String) -> Result<String, ApiError> {
    if text.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(ApiError::Validation(format!(
            "description: at most {MAX_DESCRIPTION_LEN} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::Validation(
            "description: no control characters".into(),
        ));
    }
    Ok(text)
}
