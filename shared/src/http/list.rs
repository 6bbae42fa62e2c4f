//! `GET /`: a page of the organization's domains, by offset or cursor, with counts.

use lambda_http::http::StatusCode;

use super::cursor::{self, ListScope};
use super::request::Query;
use super::response::json;
use super::views::{DomainList, DomainSummary};
use super::{Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::{OrgId, Status};
use crate::store::{PageQuery, PageStart};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
/// The largest integer every JSON client reads exactly (2^53 - 1, JavaScript's
/// `Number.MAX_SAFE_INTEGER`): the answer echoes `offset`, so it must survive the trip.
const MAX_OFFSET: u64 = (1 << 53) - 1;

pub async fn handle(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let query = Query::parse(request, &["status", "limit", "offset", "cursor"])?;
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
    let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
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
    let scope = ListScope { org, status };
    let start = match query.get("cursor") {
        None => PageStart::Offset(offset),
        // Generated clients send the documented default `offset=0` with every call, a
        // cursor's included: only an offset that would move the page conflicts with it.
        Some(_) if offset != 0 => {
            return Err(ApiError::Validation(
                "give cursor or a non-zero offset, not both".into(),
            ));
        }
        Some(text) => {
            let key = app.cursor_key().await?;
            PageStart::After(cursor::open(&key, scope, text, app.now())?)
        }
    };
    // A cursor's page is not placed by an offset: it answers 0.
    let echoed_offset = match start {
        PageStart::Offset(offset) => offset,
        PageStart::After(_) => 0,
    };
    let page = app
        .store()
        .list_page(
            org,
            &PageQuery {
                status,
                start,
                limit,
            },
        )
        .await?;
    let next_cursor = match page.domains.last() {
        Some(last) if page.more => {
            let key = app.cursor_key().await?;
            Some(cursor::seal(&key, scope, &last.id, app.now()))
        }
        _ => None,
    };
    let total = match status {
        Some(status) => page.counts.get(status),
        None => page.counts.total(),
    };
    Ok(json(
        StatusCode::OK,
        &DomainList {
            domains: page.domains.iter().map(DomainSummary::from).collect(),
            total,
            limit,
            offset: echoed_offset,
            counts: page.counts,
            next_cursor,
        },
    ))
}
