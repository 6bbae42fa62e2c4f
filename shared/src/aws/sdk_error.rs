//! How AWS SDK failures read (DynamoDB, SES, Route 53, KMS, EventBridge): unavailable (retry
//! later), an identity or records that are not ours, or internal. A leaf: the store and
//! every adapter use it, and it uses nothing of the crate.

// The same smithy types behind every AWS SDK crate, re-exported by each.
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

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
    // Limits of the AWS account (SES identities per region, hosted zones): nothing the
    // caller did, and nothing a retry fixes; the operator must raise them.
    const ACCOUNT_LIMITS: &[&str] = &[
        "LimitExceededException",
        "LimitExceeded",
        "TooManyHostedZones",
    ];
    let detail = format!("{service}: {}", DisplayErrorContext(&err));
    if let SdkError::ServiceError(service_error) = &err
        && service_error
            .err()
            .code()
            .is_some_and(|c| ACCOUNT_LIMITS.contains(&c))
    {
        tracing::error!(
            error = %detail,
            "an AWS account limit is reached: request an increase in Service Quotas (SES: \
             identities per region) or delete unused identities; registrations answer 503 \
             until then"
        );
        return CloudError::Unavailable(format!("AWS account limit reached: {detail}"));
    }
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

#[cfg(test)]
mod tests {
    use aws_sdk_sesv2::error::ErrorMetadata;
    use aws_sdk_sesv2::operation::create_email_identity::CreateEmailIdentityError;
    use aws_sdk_sesv2::types::error::{AlreadyExistsException, LimitExceededException};
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn failure(
        error: CreateEmailIdentityError,
    ) -> SdkError<CreateEmailIdentityError, HttpResponse> {
        let raw = HttpResponse::new(400.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(error, raw)
    }

    #[test]
    fn an_account_limit_is_unavailable_not_internal() {
        // As the SDK reads it off a real response: with its error code.
        let limit = LimitExceededException::builder()
            .message("Maximum number of identities reached")
            .meta(
                ErrorMetadata::builder()
                    .code("LimitExceededException")
                    .message("Maximum number of identities reached")
                    .build(),
            )
            .build();
        let error = classify(
            "SES CreateEmailIdentity",
            failure(CreateEmailIdentityError::LimitExceededException(limit)),
        );
        assert!(
            matches!(&error, CloudError::Unavailable(why) if why.contains("account limit")),
            "{error:?}"
        );

        let other = AlreadyExistsException::builder()
            .message("exists")
            .meta(
                ErrorMetadata::builder()
                    .code("AlreadyExistsException")
                    .build(),
            )
            .build();
        let error = classify(
            "SES CreateEmailIdentity",
            failure(CreateEmailIdentityError::AlreadyExistsException(other)),
        );
        assert!(matches!(error, CloudError::Internal(_)), "{error:?}");
    }
}
