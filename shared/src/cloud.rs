//! What the AWS adapters share: how SDK failures read (DynamoDB, SES, Route 53), and which
//! of SES and Route 53 a host has turned on.

use std::sync::Arc;

// The same smithy types behind every AWS SDK crate, re-exported by each.
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::ApiError;
use crate::route53::DnsZones;
use crate::ses::EmailIdentities;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    /// Throttled, a server fault, or out of reach, after the SDK's own retries.
    #[error("{0}")]
    Unavailable(String),
    /// SES has an identity for the domain that is not this organization's.
    #[error("{0}")]
    IdentityTaken(String),
    /// The hosted zone already has record sets where ours would go.
    #[error("{0}")]
    RecordsExist(String),
    #[error("{0}")]
    Internal(String),
}

impl From<CloudError> for ApiError {
    fn from(error: CloudError) -> Self {
        match error {
            CloudError::Unavailable(cause) => ApiError::Unavailable(cause),
            CloudError::IdentityTaken(message) => ApiError::IdentityTaken(message),
            CloudError::RecordsExist(message) => ApiError::DnsRecordConflict(message),
            CloudError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

/// Whether an AWS SDK failure is a service error with one of `codes`.
pub fn has_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, codes: &[&str]) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| codes.contains(&code))
}

/// Sorts an AWS SDK failure; the message keeps the AWS request id for the logs.
pub fn classify<E>(service: &str, err: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    const TRANSIENT: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "InternalServerError",
        "TooManyRequestsException",
        "PriorRequestNotComplete",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
    ];
    let detail = format!("{service}: {}", DisplayErrorContext(&err));
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            CloudError::Unavailable(detail)
        }
        SdkError::ServiceError(service)
            if service.raw().status().is_server_error()
                || service.err().code().is_some_and(|c| TRANSIENT.contains(&c)) =>
        {
            CloudError::Unavailable(detail)
        }
        _ => CloudError::Internal(detail),
    }
}

/// The AWS services a host uses; either may be off (the local server without endpoints).
#[derive(Clone, Default)]
pub struct Cloud {
    pub ses: Option<Arc<dyn EmailIdentities>>,
    pub zones: Option<Arc<dyn DnsZones>>,
}
