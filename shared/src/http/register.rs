use lambda_http::http::{HeaderValue, StatusCode, header};
use serde::Deserialize;

use super::request::json_body;
use super::response::json;
use super::views::Registered;
use super::{BASE_PATH, Request, Response};
use crate::App;
use crate::dns::plan::new_setup;
use crate::error::ApiError;
use crate::model::{Domain, DomainName, OrgId, RECEIVING_REGIONS, Region};
use crate::provision;
use crate::store::DefaultChoice;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RegisterRequest {
    domain: String,
    is_default: Option<bool>,
    region: Option<String>,
    /// Write the records into the account's Route 53 zone for the domain.
    auto_configure_dns: Option<bool>,
}

pub async fn handle(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let body: RegisterRequest = json_body(request)?;
    let name =
        DomainName::parse(&body.domain).map_err(|e| ApiError::DomainInvalid(e.to_string()))?;
    let region = match body.region.as_deref() {
        None => Region::DEFAULT,
        Some(text) => Region::parse(text).ok_or_else(|| {
            ApiError::Validation(format!(
                "region must be an SES region that receives mail: {}",
                RECEIVING_REGIONS.join(", ")
            ))
        })?,
    };
    let default = match body.is_default {
        None => DefaultChoice::IfNone,
        Some(true) => DefaultChoice::Always,
        Some(false) => DefaultChoice::Never,
    };

    let hosted_zone_id = if body.auto_configure_dns == Some(true) {
        Some(provision::assigned_zone(app, org, &name).await?.to_string())
    } else {
        None
    };

    // The cheap refusals first: no RSA key is made for an organization at its limit or for
    // a name someone holds (the register transaction decides both atomically in any case).
    let (quota, held) = tokio::try_join!(
        app.store().quota(org),
        app.store().name_is_held(&name, app.now())
    )?;
    if quota.full() {
        return Err(ApiError::QuotaExceeded(quota.max));
    }
    if held {
        return Err(ApiError::DomainExists(name.to_string()));
    }

    let now = app.now();
    // RSA key generation is CPU work; keep it off the async workers.
    let (setup, dkim) = tokio::task::spawn_blocking(move || new_setup(now))
        .await
        .map_err(|e| ApiError::Internal(format!("key generation task failed: {e}")))?;
    let mut domain = Domain::new_pending(org.clone(), name, region, setup, now);
    domain.hosted_zone_id = hosted_zone_id;
    let stored = provision::register(app, &domain, &dkim, default).await?;

    let mut response = json(StatusCode::CREATED, &Registered::from(&stored));
    if let Ok(location) = HeaderValue::from_str(&format!("{BASE_PATH}/{}", stored.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
