//! `POST /:id/verify`: checks DNS now; `422` with every finding while required records
//! are missing; `429` beyond the verify rate limits.

use lambda_http::http::StatusCode;

use super::request::requested_domain;
use super::response::json;
use super::views::Verified;
use super::{Request, Response};
use crate::App;
use crate::error::ApiError;
use crate::model::OrgId;
use crate::workflows::limits::admit_verify;
use crate::workflows::verify::verify;
use crate::workflows::zones::zone_managed;

pub async fn handle(app: &App, org: &OrgId, request: &Request) -> Result<Response, ApiError> {
    let domain = requested_domain(app, org, request).await?;
    admit_verify(app, org, domain.name.as_str()).await?;
    let (domain, report) = verify(app, domain).await?;
    let managed = zone_managed(app, &domain).await?;
    let view = Verified::new(&domain, &report, managed);
    if report.required_passed() {
        Ok(json(StatusCode::OK, &view))
    } else {
        // The findings are stored (GET shows them) and the status is unchanged.
        let details = serde_json::to_value(&view).expect("views serialize");
        Err(ApiError::VerificationFailed(details))
    }
}
