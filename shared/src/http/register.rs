//! `POST /`: registers a domain; `201` with the records to publish.

use lambda_http::http::{HeaderValue, StatusCode, header};
use serde::Deserialize;

use super::request::{domain_name, json_body, present, region};
use super::response::json;
use super::views::Registered;
use super::{BASE_PATH, Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::{Domain, MailFrom, OrgId};
use crate::store::DefaultChoice;
use crate::workflows::register::{Registration, register_domain};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RegisterRequest {
    domain: String,
    #[serde(default, deserialize_with = "present")]
    is_default: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    region: Option<String>,
    /// Write the records into the account's Route 53 zone for the domain.
    #[serde(default, deserialize_with = "present")]
    auto_configure_dns: Option<bool>,
    /// The label of the custom MAIL FROM subdomain (default `send`).
    #[serde(default, deserialize_with = "present")]
    mail_from: Option<String>,
}

pub async fn handle(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let body: RegisterRequest = json_body(request)?;
    let registration = Registration {
        name: domain_name(&body.domain)?,
        region: region(body.region.as_deref())?,
        // Both limits together keep `<label>.<domain>` a valid name (see `MailFrom::MAX_LEN`).
        mail_from: match &body.mail_from {
            Some(text) => MailFrom::parse(text).map_err(ApiError::Validation)?,
            None => MailFrom::standard(),
        },
        default: match body.is_default {
            None => DefaultChoice::IfNone,
            Some(true) => DefaultChoice::Always,
            Some(false) => DefaultChoice::Never,
        },
        auto_configure_dns: body.auto_configure_dns == Some(true),
    };
    let stored = register_domain(app, org, registration).await?;
    Ok(created(&stored))
}

/// `201` with the registered domain and its `Location`.
pub(super) fn created(stored: &Domain) -> Response {
    let mut response = json(StatusCode::CREATED, &Registered::from(stored));
    if let Ok(location) = HeaderValue::from_str(&format!("{BASE_PATH}/{}", stored.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}
