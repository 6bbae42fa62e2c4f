//! The one error type of the API: each variant knows its HTTP status and code.

use lambda_http::http::StatusCode;
use serde_json::{Value, json};

use crate::aws::CloudError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    DomainInvalid(String),
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("domain not found")]
    DomainNotFound,
    #[error("domain '{0}' is already registered")]
    DomainExists(String),
    /// The name is reserved by a registration still under way.
    #[error("{0}")]
    NameReserved(String),
    #[error("claim not found")]
    ClaimNotFound,
    #[error("webhook endpoint not found")]
    WebhookNotFound,
    #[error(
        "this organization holds {0} webhook endpoints, the most it may; delete one, or \
         subscribe an existing endpoint to more events"
    )]
    WebhookLimitReached(u64),
    #[error("{0}")]
    ClaimNotAllowed(String),
    #[error("domain has {0} inbox(es); delete them first")]
    DomainInUse(i64),
    #[error(
        "this organization holds {0} domains, its limit; delete one it no longer uses, or ask \
         for a higher limit"
    )]
    QuotaExceeded(u64),
    /// The name is free here, but SES already has an identity for it that is not ours.
    #[error("{0}")]
    IdentityTaken(String),
    #[error("{0}")]
    DnsZoneNotFound(String),
    #[error("{0}")]
    DnsRecordConflict(String),
    /// A DKIM rotation is under way; a second must wait until it completes.
    #[error("{0}")]
    RotationPending(String),
    #[error("cannot change status from {from} to {to}")]
    InvalidStatusTransition { from: String, to: String },
    #[error("required DNS records are missing or wrong")]
    VerificationFailed(Value),
    /// Too many verifies; `retry_after` seconds until one more is allowed.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error(
        "this Idempotency-Key was used with another request (method, path or body) in the last \
         24 hours; use a new key for a new request"
    )]
    IdempotencyKeyReused,
    /// The first request with the key still runs; `retry_after` seconds is a fair wait.
    #[error("the first request with this Idempotency-Key is still running; retry shortly")]
    IdempotencyKeyInUse { retry_after: u64 },
    #[error("service temporarily unavailable: {0}")]
    Unavailable(String),
    /// The full cause is logged; the client sees a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::DomainInvalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::QuotaExceeded(_) | ApiError::WebhookLimitReached(_) => StatusCode::FORBIDDEN,
            ApiError::DomainNotFound | ApiError::ClaimNotFound | ApiError::WebhookNotFound => {
                StatusCode::NOT_FOUND
            }
            ApiError::DomainExists(_)
            | ApiError::NameReserved(_)
            | ApiError::ClaimNotAllowed(_)
            | ApiError::IdentityTaken(_)
            | ApiError::DnsZoneNotFound(_)
            | ApiError::DnsRecordConflict(_)
            | ApiError::DomainInUse(_)
            | ApiError::RotationPending(_)
            | ApiError::IdempotencyKeyInUse { .. }
            | ApiError::InvalidStatusTransition { .. } => StatusCode::CONFLICT,
            ApiError::VerificationFailed(_) | ApiError::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "VALIDATION_ERROR",
            ApiError::DomainInvalid(_) => "DOMAIN_INVALID",
            ApiError::Unauthorized => "UNAUTHORIZED",
            ApiError::DomainNotFound => "DOMAIN_NOT_FOUND",
            ApiError::DomainExists(_) | ApiError::IdentityTaken(_) | ApiError::NameReserved(_) => {
                "DOMAIN_EXISTS"
            }
            ApiError::ClaimNotFound => "CLAIM_NOT_FOUND",
            ApiError::WebhookNotFound => "WEBHOOK_NOT_FOUND",
            ApiError::WebhookLimitReached(_) => "WEBHOOK_LIMIT_REACHED",
            ApiError::ClaimNotAllowed(_) => "CLAIM_NOT_ALLOWED",
            ApiError::DnsZoneNotFound(_) => "DNS_ZONE_NOT_FOUND",
            ApiError::DnsRecordConflict(_) => "DNS_RECORD_CONFLICT",
            ApiError::DomainInUse(_) => "DOMAIN_IN_USE",
            ApiError::RotationPending(_) => "DKIM_ROTATION_PENDING",
            ApiError::QuotaExceeded(_) => "QUOTA_EXCEEDED",
            ApiError::InvalidStatusTransition { .. } => "INVALID_STATUS_TRANSITION",
            ApiError::VerificationFailed(_) => "VERIFICATION_FAILED",
            ApiError::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            ApiError::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ApiError::IdempotencyKeyInUse { .. } => "IDEMPOTENCY_KEY_IN_USE",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// Seconds a client should wait before trying again (`Retry-After`), where it says.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after, .. }
            | ApiError::IdempotencyKeyInUse { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The message a client may see: server-side causes stay in the logs.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "an internal error occurred".to_owned(),
            ApiError::Unavailable(_) => {
                "the service is temporarily unavailable; retry shortly".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// The `{"error": {...}}` body of the contract.
    pub fn body(&self, request_id: &str) -> Value {
        let mut error = json!({ "code": self.code(), "message": self.public_message() });
        match self {
            ApiError::VerificationFailed(details) => error["details"] = details.clone(),
            ApiError::Internal(_) | ApiError::Unavailable(_) => {
                error["requestId"] = Value::from(request_id)
            }
            _ => {}
        }
        json!({ "error": error })
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::DomainNotFound,
            StoreError::NameTaken(name) => ApiError::DomainExists(name),
            StoreError::InUse(inboxes) => ApiError::DomainInUse(inboxes),
            StoreError::QuotaExceeded(max) => ApiError::QuotaExceeded(max),
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
            // Still losing to concurrent writers after the stores' own retries: try later.
            StoreError::Conflict => {
                ApiError::Unavailable("the domain is being changed concurrently".into())
            }
            StoreError::Internal(cause) => ApiError::Internal(cause),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_the_contract() {
        let code = |e: StoreError| ApiError::from(e).code();
        assert_eq!(code(StoreError::NotFound), "DOMAIN_NOT_FOUND");
        assert_eq!(
            code(StoreError::NameTaken("a.example".into())),
            "DOMAIN_EXISTS"
        );
        assert_eq!(code(StoreError::InUse(1)), "DOMAIN_IN_USE");
        assert_eq!(code(StoreError::QuotaExceeded(5)), "QUOTA_EXCEEDED");
        assert_eq!(code(StoreError::Conflict), "SERVICE_UNAVAILABLE");
        assert_eq!(
            code(StoreError::Unavailable("x".into())),
            "SERVICE_UNAVAILABLE"
        );
        assert_eq!(code(StoreError::Internal("x".into())), "INTERNAL_ERROR");
    }

    #[test]
    fn cloud_errors_map_to_the_contract() {
        let code = |e: CloudError| ApiError::from(e).code();
        assert_eq!(
            code(CloudError::Unavailable("AWS account limit reached".into())),
            "SERVICE_UNAVAILABLE"
        );
        assert_eq!(code(CloudError::IdentityTaken("x".into())), "DOMAIN_EXISTS");
        assert_eq!(
            code(CloudError::RecordsExist("x".into())),
            "DNS_RECORD_CONFLICT"
        );
        assert_eq!(code(CloudError::Internal("x".into())), "INTERNAL_ERROR");
    }
}
