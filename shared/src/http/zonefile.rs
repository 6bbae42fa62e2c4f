//! `GET /:id/zonefile`: the records to publish as a zone-file fragment.

use lambda_http::Body;
use lambda_http::http::{HeaderValue, StatusCode, header};

use super::request::requested_domain;
use super::{Request, Response};
use crate::App;
use crate::dns::zonefile;
use crate::error::ApiError;
use crate::model::OrgId;

/// `GET /:id/zonefile`: the records as a zone-file fragment (`text/dns`, RFC 4027), to
/// import at any DNS host. Errors are the usual JSON.
pub async fn handle(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let domain = requested_domain(app, org, request).await?;
    let mut response = Response::new(Body::Text(zonefile::render(&domain)));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/dns; charset=utf-8"),
    );
    // A validated domain name is letters, digits, hyphens and dots: safe in the header.
    if let Ok(disposition) =
        HeaderValue::from_str(&format!("attachment; filename=\"{}.zone\"", domain.name))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}
