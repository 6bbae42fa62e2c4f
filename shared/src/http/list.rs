use lambda_http::http::StatusCode;

use super::request::Query;
use super::response::json;
use super::views::{DomainList, DomainSummary};
use super::{Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::{OrgId, Status};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
/// The largest integer every JSON client reads exactly (2^53 - 1, JavaScript's
/// `Number.MAX_SAFE_INTEGER`): the answer echoes `offset`, so it must survive the trip.
const MAX_OFFSET: u64 = (1 << 53) - 1;

pub async fn handle(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let query = Query::parse(request, &["status", "limit", "offset"])?;
    let status = query
        .get("status")
        .map(|s| {
            s.parse::<Status>().map_err(|_| {
                ApiError::Validation(
                    "status must be one of pending, active, suspended, failed".into(),
                )
            })
        })
        .transpose()?;
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::Validation(format!("limit must be an integer from 1 to {MAX_LIMIT}"))
            })?,
    };
    let offset = match query.get("offset") {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_OFFSET)
            .ok_or_else(|| {
                ApiError::Validation(format!("offset must be an integer from 0 to {MAX_OFFSET}"))
            })?,
    };
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);

    let domains = app.store().list_domains(org).await?;
    let matching: Vec<_> = domains
        .iter()
        .filter(|d| status.is_none_or(|s| d.state.status == s))
        .collect();
    let page = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|d| DomainSummary::from(*d))
        .collect();
    Ok(json(
        StatusCode::OK,
        &DomainList {
            domains: page,
            total: matching.len(),
            limit,
            offset,
        },
    ))
}
