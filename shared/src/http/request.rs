//! Reading requests: path parameters, query parameters and JSON bodies, each bad input a
//! precise `VALIDATION_ERROR` (or `PAYLOAD_TOO_LARGE`).

use lambda_http::{Body, RequestExt};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};

use super::Request;
use crate::App;
use crate::error::ApiError;
use crate::model::{ClaimId, Domain, DomainId, DomainName, OrgId, RECEIVING_REGIONS, Region};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The `{id}` path parameter. A malformed id names no domain, so it is a 404 like any
/// other unknown id.
pub fn domain_id(request: &Request) -> Result<DomainId, ApiError> {
    path_id(request)
        .and_then(DomainId::parse)
        .ok_or(ApiError::DomainNotFound)
}

/// The `{id}` path parameter of the claim routes; as with domains, malformed is unknown.
pub fn claim_id(request: &Request) -> Result<ClaimId, ApiError> {
    path_id(request)
        .and_then(ClaimId::parse)
        .ok_or(ApiError::ClaimNotFound)
}

pub fn path_id(request: &Request) -> Option<&str> {
    request
        .path_parameters_ref()
        .and_then(|params| params.first("id"))
}

/// The `region` of a request body: an SES region that receives mail, `us-east-1` if
/// omitted.
pub fn region(text: Option<&str>) -> Result<Region, ApiError> {
    match text {
        None => Ok(Region::DEFAULT),
        Some(text) => Region::parse(text).ok_or_else(|| {
            ApiError::Validation(format!(
                "region must be an SES region that receives mail: {}",
                RECEIVING_REGIONS.join(", ")
            ))
        }),
    }
}

/// The `domain` of a request body, normalised, or `DOMAIN_INVALID` saying why not.
pub fn domain_name(text: &str) -> Result<DomainName, ApiError> {
    DomainName::parse(text).map_err(|e| ApiError::DomainInvalid(e.to_string()))
}

pub fn body_bytes(request: &Request) -> &[u8] {
    match request.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// Refuses a body over the limit before anything else is done with the request.
pub fn check_body_size(request: &Request) -> Result<(), ApiError> {
    if body_bytes(request).len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    Ok(())
}

/// The caller's domain named by the `{id}` path parameter.
pub async fn requested_domain(
    app: &App,
    org: &OrgId,
    request: &Request,
) -> Result<Domain, ApiError> {
    let id = domain_id(request)?;
    app.store()
        .get_domain(org, &id)
        .await?
        .ok_or(ApiError::DomainNotFound)
}

/// The JSON object in the body, with unknown fields and wrong types refused.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let bytes = body_bytes(request);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Validation(
            "request body must be a JSON object".into(),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Validation(format!("invalid request body: {e}")))
}

/// An optional body field: absent is `None`, and an explicit `null` is refused like any
/// other value of the wrong type. The contract types every field; a `null` read as "not
/// given" would quietly ignore what a client meant to send.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Query parameters, each allowed at most once and only if known.
pub struct Query<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Query<'a> {
    pub fn parse(request: &'a Request, known: &[&str]) -> Result<Self, ApiError> {
        let params = request.query_string_parameters_ref();
        let pairs: Vec<(&str, &str)> = params.map(|p| p.iter().collect()).unwrap_or_default();
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !known.contains(name) {
                return Err(ApiError::Validation(format!(
                    "unknown query parameter '{name}' (allowed: {})",
                    known.join(", ")
                )));
            }
            if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::Validation(format!(
                    "query parameter '{name}' is given more than once"
                )));
            }
        }
        Ok(Self { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// `limit`: an integer from 1 to `max`, `default` if absent.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::Validation(format!("limit must be an integer from 1 to {max}"))
                }),
        }
    }
}
