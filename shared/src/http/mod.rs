//! The HTTP handlers, one per endpoint, shared by every host: they take a `lambda_http`
//! request (path parameters already extracted by the host) and return a response.

mod claims;
pub mod cursor;
mod delete;
mod get;
mod list;
mod register;
mod request;
mod response;
mod rotate;
mod update;
mod verify;
mod views;
mod zonefile;

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures::FutureExt;
use tracing::Instrument;

use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};

pub use request::MAX_BODY_BYTES;
pub use response::error_response;

use crate::App;
use crate::error::ApiError;

pub type Request = lambda_http::Request;
pub type Response = lambda_http::Response<Body>;

/// Base path of the API.
pub const BASE_PATH: &str = "/api/email/domains";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    List,
    Register,
    Get,
    Update,
    Verify,
    Delete,
    OpenClaim,
    VerifyClaim,
    ZoneFile,
    RotateDkim,
}

impl Endpoint {
    pub const ALL: [Endpoint; 10] = [
        Endpoint::List,
        Endpoint::Register,
        Endpoint::Get,
        Endpoint::Update,
        Endpoint::Verify,
        Endpoint::Delete,
        Endpoint::OpenClaim,
        Endpoint::VerifyClaim,
        Endpoint::ZoneFile,
        Endpoint::RotateDkim,
    ];

    /// The Lambda function (and binary) that serves this endpoint.
    pub fn function_name(&self) -> &'static str {
        match self {
            Endpoint::List => "list-domains",
            Endpoint::Register => "register-domain",
            Endpoint::Get => "get-domain",
            Endpoint::Update => "update-domain",
            Endpoint::Verify => "verify-domain",
            Endpoint::Delete => "delete-domain",
            Endpoint::OpenClaim => "open-claim",
            Endpoint::VerifyClaim => "verify-claim",
            Endpoint::ZoneFile => "get-zonefile",
            Endpoint::RotateDkim => "rotate-dkim",
        }
    }

    pub fn from_function_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL
            .into_iter()
            .find(|e| e.function_name() == name)
    }

    /// Method and route template (`{id}` is the one path parameter). `/claims` is a fixed
    /// segment, which routers (API Gateway's, axum's) match before `/{id}`.
    pub fn route(&self) -> (&'static str, &'static str) {
        match self {
            Endpoint::List => ("GET", ""),
            Endpoint::Register => ("POST", ""),
            Endpoint::Get => ("GET", "/{id}"),
            Endpoint::Update => ("PATCH", "/{id}"),
            Endpoint::Verify => ("POST", "/{id}/verify"),
            Endpoint::Delete => ("DELETE", "/{id}"),
            Endpoint::OpenClaim => ("POST", "/claims"),
            Endpoint::VerifyClaim => ("POST", "/claims/{id}/verify"),
            Endpoint::ZoneFile => ("GET", "/{id}/zonefile"),
            Endpoint::RotateDkim => ("POST", "/{id}/dkim/rotate"),
        }
    }
}

impl App {
    /// Serves one request. Never fails: every error becomes the contract's error body.
    /// Every log line it causes carries the request id and the function's name.
    pub async fn handle(&self, endpoint: Endpoint, request: Request) -> Response {
        let request_id = request_id(&request);
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            function = endpoint.function_name()
        );
        self.handle_in_span(endpoint, request, request_id)
            .instrument(span)
            .await
    }

    async fn handle_in_span(
        &self,
        endpoint: Endpoint,
        request: Request,
        request_id: String,
    ) -> Response {
        let started = Instant::now();
        // A bug that panics answers this request with a logged 500; it never takes the
        // process, and with it every other request and check in flight, down (the release
        // profile unwinds for this reason).
        let result = AssertUnwindSafe(self.dispatch(endpoint, &request))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(ApiError::Internal(panic_message(panic.as_ref()))));
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                if error.status().is_server_error() {
                    tracing::error!(error = %error, "request failed");
                }
                error_response(&error, &request_id)
            }
        };
        tracing::info!(
            method = %request.method(),
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        );
        response
    }

    async fn dispatch(&self, endpoint: Endpoint, request: &Request) -> Result<Response, ApiError> {
        request::check_body_size(request)?;
        let authorization = request
            .headers()
            .get(lambda_http::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let org = self.auth().organization(authorization).await?;
        match endpoint {
            Endpoint::List => list::handle(self, &org, request).await,
            Endpoint::Register => register::handle(self, &org, request).await,
            Endpoint::Get => get::handle(self, &org, request).await,
            Endpoint::Update => update::handle(self, &org, request).await,
            Endpoint::Verify => verify::handle(self, &org, request).await,
            Endpoint::Delete => delete::handle(self, &org, request).await,
            Endpoint::OpenClaim => claims::open(self, &org, request).await,
            Endpoint::VerifyClaim => claims::verify(self, &org, request).await,
            Endpoint::ZoneFile => zonefile::handle(self, &org, request).await,
            Endpoint::RotateDkim => rotate::handle(self, &org, request).await,
        }
    }
}

/// What a caught panic said, for the log line.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    format!("panicked: {text}")
}

/// The id API Gateway (or the Lambda runtime) gave this request, for log correlation;
/// other hosts get a fresh one.
fn request_id(request: &Request) -> String {
    if let Some(context) = request.lambda_context_ref() {
        return context.request_id.clone();
    }
    if let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref()
        && let Some(id) = &context.request_id
    {
        return id.clone();
    }
    ulid::Ulid::new().to_string()
}
