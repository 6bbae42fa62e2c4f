//! Writing responses: JSON bodies, and errors as the contract's `{"error": …}`.

use lambda_http::Body;
use lambda_http::http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use super::Response;
use crate::error::ApiError;

pub fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).expect("views serialize");
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn error_response(error: &ApiError, request_id: &str) -> Response {
    let mut response = json(error.status(), &error.body(request_id));
    if let Some(seconds) = error.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
