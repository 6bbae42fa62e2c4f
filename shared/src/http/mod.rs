//! The HTTP handlers, one per endpoint, shared by every host: they take a `lambda_http`
//! request (path parameters already extracted by the host) and return a response.

mod claims;
pub mod cursor;
mod delete;
mod get;
pub mod idempotency;
mod list;
mod register;
mod request;
mod response;
mod rotate;
mod update;
mod verify;
mod views;
mod webhooks;
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
use crate::model::OrgId;

pub type Request = lambda_http::Request;
pub type Response = lambda_http::Response<Body>;

/// Base path of the API.
pub const BASE_PATH: &str = "/api/email/domains";
/// Base path of an organization's webhook endpoints.
pub const WEBHOOKS_PATH: &str = "/api/email/webhooks";

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
    ListWebhooks,
    CreateWebhook,
    GetWebhook,
    UpdateWebhook,
    DeleteWebhook,
    RotateWebhookSecret,
    TestWebhook,
    ListWebhookDeliveries,
}

impl Endpoint {
    pub const ALL: [Endpoint; 18] = [
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
        Endpoint::ListWebhooks,
        Endpoint::CreateWebhook,
        Endpoint::GetWebhook,
        Endpoint::UpdateWebhook,
        Endpoint::DeleteWebhook,
        Endpoint::RotateWebhookSecret,
        Endpoint::TestWebhook,
        Endpoint::ListWebhookDeliveries,
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
            Endpoint::ListWebhooks => "list-webhooks",
            Endpoint::CreateWebhook => "create-webhook",
            Endpoint::GetWebhook => "get-webhook",
            Endpoint::UpdateWebhook => "update-webhook",
            Endpoint::DeleteWebhook => "delete-webhook",
            Endpoint::RotateWebhookSecret => "rotate-webhook-secret",
            Endpoint::TestWebhook => "test-webhook",
            Endpoint::ListWebhookDeliveries => "list-webhook-deliveries",
        }
    }

    pub fn from_function_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL
            .into_iter()
            .find(|e| e.function_name() == name)
    }

    /// Method and path template (`{id}` is the one path parameter). `/claims` is a fixed
    /// segment, which routers (API Gateway's, axum's) match before `/{id}`.
    pub fn route(&self) -> (&'static str, &'static str) {
        match self {
            Endpoint::List => ("GET", "/api/email/domains"),
            Endpoint::Register => ("POST", "/api/email/domains"),
            Endpoint::Get => ("GET", "/api/email/domains/{id}"),
            Endpoint::Update => ("PATCH", "/api/email/domains/{id}"),
            Endpoint::Verify => ("POST", "/api/email/domains/{id}/verify"),
            Endpoint::Delete => ("DELETE", "/api/email/domains/{id}"),
            Endpoint::OpenClaim => ("POST", "/api/email/domains/claims"),
            Endpoint::VerifyClaim => ("POST", "/api/email/domains/claims/{id}/verify"),
            Endpoint::ZoneFile => ("GET", "/api/email/domains/{id}/zonefile"),
            Endpoint::RotateDkim => ("POST", "/api/email/domains/{id}/dkim/rotate"),
            Endpoint::ListWebhooks => ("GET", "/api/email/webhooks"),
            Endpoint::CreateWebhook => ("POST", "/api/email/webhooks"),
            Endpoint::GetWebhook => ("GET", "/api/email/webhooks/{id}"),
            Endpoint::UpdateWebhook => ("PATCH", "/api/email/webhooks/{id}"),
            Endpoint::DeleteWebhook => ("DELETE", "/api/email/webhooks/{id}"),
            Endpoint::RotateWebhookSecret => ("POST", "/api/email/webhooks/{id}/secret/rotate"),
            Endpoint::TestWebhook => ("POST", "/api/email/webhooks/{id}/test"),
            Endpoint::ListWebhookDeliveries => ("GET", "/api/email/webhooks/{id}/deliveries"),
        }
    }
}

/// What an endpoint's function builds at a cold start besides the table: only what its
/// handler uses, so `get-domain` never builds a resolver or an SES client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The DNS checker (verification).
    pub dns: bool,
    /// SES, Route 53 and KMS (identities, records, keys).
    pub cloud: bool,
    /// The webhook deliverer: the outbound client, and KMS for endpoints' secrets.
    pub webhooks: bool,
}

impl Endpoint {
    pub const fn needs(&self) -> Needs {
        let (dns, cloud, webhooks) = match self {
            Endpoint::List
            | Endpoint::Get
            | Endpoint::Update
            | Endpoint::ZoneFile
            | Endpoint::OpenClaim
            | Endpoint::ListWebhooks
            | Endpoint::GetWebhook
            | Endpoint::DeleteWebhook
            | Endpoint::ListWebhookDeliveries => (false, false, false),
            Endpoint::Register | Endpoint::Delete | Endpoint::RotateDkim => (false, true, false),
            Endpoint::Verify | Endpoint::VerifyClaim => (true, true, false),
            Endpoint::CreateWebhook
            | Endpoint::UpdateWebhook
            | Endpoint::RotateWebhookSecret
            | Endpoint::TestWebhook => (false, false, true),
        };
        Needs {
            dns,
            cloud,
            webhooks,
        }
    }
}

/// One endpoint as a type: a function generic over it links its own handler and nothing
/// another endpoint uses (the match over [`Endpoint`] in [`App::handle`] links them all,
/// which the local server wants and a Lambda function does not).
pub trait Handler: Send + Sync + 'static {
    const ENDPOINT: Endpoint;

    fn handle<'a>(
        app: &'a App,
        org: &'a OrgId,
        request: &'a Request,
    ) -> impl Future<Output = Result<Response, ApiError>> + Send + 'a;
}

macro_rules! handlers {
    ($($name:ident => $endpoint:ident, $handle:path;)*) => {
        /// The endpoints as [`Handler`] types, one per Lambda function.
        pub mod handlers {
            $(
                pub struct $name;

                impl super::Handler for $name {
                    const ENDPOINT: super::Endpoint = super::Endpoint::$endpoint;

                    fn handle<'a>(
                        app: &'a crate::App,
                        org: &'a crate::model::OrgId,
                        request: &'a super::Request,
                    ) -> impl Future<Output = Result<super::Response, crate::error::ApiError>>
                    + Send
                    + 'a {
                        $handle(app, org, request)
                    }
                }
            )*
        }

        impl App {
            /// Serves one request to any endpoint (the local server's way).
            pub async fn handle(&self, endpoint: Endpoint, request: Request) -> Response {
                match endpoint {
                    $(Endpoint::$endpoint => self.handle_as::<handlers::$name>(request).await,)*
                }
            }
        }
    };
}

handlers! {
    List => List, super::list::handle;
    Register => Register, super::register::handle;
    Get => Get, super::get::handle;
    Update => Update, super::update::handle;
    Verify => Verify, super::verify::handle;
    Delete => Delete, super::delete::handle;
    OpenClaim => OpenClaim, super::claims::open;
    VerifyClaim => VerifyClaim, super::claims::verify;
    ZoneFile => ZoneFile, super::zonefile::handle;
    RotateDkim => RotateDkim, super::rotate::handle;
    ListWebhooks => ListWebhooks, super::webhooks::list;
    CreateWebhook => CreateWebhook, super::webhooks::create;
    GetWebhook => GetWebhook, super::webhooks::get;
    UpdateWebhook => UpdateWebhook, super::webhooks::update;
    DeleteWebhook => DeleteWebhook, super::webhooks::delete;
    RotateWebhookSecret => RotateWebhookSecret, super::webhooks::rotate;
    TestWebhook => TestWebhook, super::webhooks::test;
    ListWebhookDeliveries => ListWebhookDeliveries, super::webhooks::deliveries;
}

impl App {
    /// Serves one request to `H`'s endpoint. Never fails: every error becomes the
    /// contract's error body. Every log line it causes carries the request id and the
    /// function's name.
    pub async fn handle_as<H: Handler>(&self, request: Request) -> Response {
        let request_id = request_id(&request);
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            function = H::ENDPOINT.function_name(),
            xray_trace_id = tracing::field::Empty,
            cold_start = tracing::field::Empty,
        );
        if let Some(context) = request.lambda_context_ref() {
            crate::telemetry::record_invocation(&span, context);
        }
        self.handle_in_span::<H>(request, request_id)
            .instrument(span)
            .await
    }

    async fn handle_in_span<H: Handler>(&self, request: Request, request_id: String) -> Response {
        let started = Instant::now();
        // A bug that panics answers this request with a logged 500; it never takes the
        // process, and with it every other request and check in flight, down (the release
        // profile unwinds for this reason).
        let result = AssertUnwindSafe(self.dispatch::<H>(&request))
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
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        tracing::info!(
            method = %request.method(),
            status,
            elapsed_ms = elapsed.as_millis() as u64,
            "request"
        );
        let dimensions = [
            H::ENDPOINT.function_name(),
            crate::metrics::status_class(status),
        ];
        crate::metrics::count(&crate::metrics::REQUESTS, &dimensions);
        crate::metrics::record(
            &crate::metrics::LATENCY,
            &dimensions,
            elapsed.as_secs_f64() * 1000.0,
        );
        response
    }

    async fn dispatch<H: Handler>(&self, request: &Request) -> Result<Response, ApiError> {
        request::check_body_size(request)?;
        let authorization = request
            .headers()
            .get(lambda_http::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let org = self.auth().organization(authorization).await?;
        if idempotency::applies_to(H::ENDPOINT)
            && let Some(key) = idempotency::key(request)?
        {
            let fingerprint = idempotency::fingerprint(H::ENDPOINT, request);
            let work = H::handle(self, &org, request);
            return idempotency::run(self, H::ENDPOINT, &org, key, fingerprint, work).await;
        }
        H::handle(self, &org, request).await
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
