//! Checks made before the local server serves (and before an operator command runs): each
//! configuration mistake a newcomer can make stops it with one line naming the fix, instead
//! of a 5xx on the first request.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::ProvideCredentials;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use domains::config::TABLE_VAR;

/// What a command is about to use.
pub struct Uses<'a> {
    /// The DynamoDB table, and whether it must already exist (`table create` makes it).
    pub table: Option<(&'a str, Exists)>,
    pub ses: bool,
    pub route53: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Exists {
    Required,
    NotRequired,
}

/// Region, credentials, then each service answering as itself: the first problem found, as
/// one line that says what to do.
pub async fn check(aws: &SdkConfig, uses: &Uses<'_>) -> Result<(), String> {
    if uses.table.is_none() && !uses.ses && !uses.route53 {
        return Ok(());
    }
    if aws.region().is_none() {
        let what = if uses.table.is_some() {
            format!("{TABLE_VAR} is set")
        } else {
            "an AWS endpoint is set".to_owned()
        };
        return Err(format!(
            "{what} but no AWS region is: set AWS_REGION (any region for DynamoDB Local or \
             moto, e.g. AWS_REGION=us-east-1)"
        ));
    }
    let credentials = match aws.credentials_provider() {
        Some(provider) => provider.provide_credentials().await.map(|_| ()),
        None => Ok(()),
    };
    if credentials.is_err() {
        return Err(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any \
             values for DynamoDB Local or moto), or AWS_PROFILE"
                .into(),
        );
    }
    if let Some((table, exists)) = uses.table {
        dynamodb(aws, table, exists).await?;
    }
    if uses.ses {
        // A name no identity can have: SES answers "not found", which is SES answering.
        let answer = aws_sdk_sesv2::Client::new(aws)
            .get_email_identity()
            .email_identity("preflight.invalid")
            .send()
            .await;
        let answer = match answer {
            Err(SdkError::ServiceError(e)) if e.err().is_not_found_exception() => Ok(()),
            other => other.map(|_| ()),
        };
        answers("SES", "SESV2", answer)?;
    }
    if uses.route53 {
        let answer = aws_sdk_route53::Client::new(aws)
            .list_hosted_zones()
            .max_items(1)
            .send()
            .await;
        answers("Route 53", "ROUTE_53", answer)?;
    }
    Ok(())
}

async fn dynamodb(aws: &SdkConfig, table: &str, exists: Exists) -> Result<(), String> {
    let at = endpoint("DYNAMODB");
    let answer = aws_sdk_dynamodb::Client::new(aws)
        .describe_table()
        .table_name(table)
        .send()
        .await;
    match answer {
        Ok(_) => Ok(()),
        Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => {
            if exists == Exists::NotRequired {
                return Ok(());
            }
            Err(format!(
                "the table '{table}' ({TABLE_VAR}) does not exist {at}: create it with \
                 `domainctl table create` (in AWS, the stack creates it)"
            ))
        }
        Err(SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => Err(format!(
            "cannot reach DynamoDB {at}: is DynamoDB Local running? (`scripts/dynamodb-local` \
             starts it; `scripts/dev` starts everything)"
        )),
        Err(e) => Err(format!(
            "DynamoDB {at} refused to describe the table '{table}': {}",
            reason(&e)
        )),
    }
}

/// A cheap read answered by the service itself, or the one line saying why not.
fn answers<T, E, R>(
    service: &str,
    suffix: &str,
    answer: Result<T, SdkError<E, R>>,
) -> Result<(), String>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let at = endpoint(suffix);
    // AWS_ENDPOINT_URL points every service at one server: right for moto, wrong for
    // DynamoDB Local, which then receives the SES and Route 53 calls.
    let shared = env_set("AWS_ENDPOINT_URL") && !env_set(&format!("AWS_ENDPOINT_URL_{suffix}"));
    let hint = if shared {
        "; AWS_ENDPOINT_URL sends every service there: for DynamoDB Local alone, set \
         AWS_ENDPOINT_URL_DYNAMODB instead"
    } else {
        ""
    };
    match answer {
        Ok(_) => Ok(()),
        Err(SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => Err(format!(
            "cannot reach {service} {at}: is moto running? (`scripts/dev` starts everything)"
        )),
        Err(e) => Err(format!(
            "{service} {at} did not answer as {service} ({}){hint}",
            reason(&e)
        )),
    }
}

/// The service's error code and message when it sent one, else the whole chain.
fn reason<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(error).to_string(),
    }
}

/// "at http://…" for an endpoint from the environment, else "in AWS".
fn endpoint(suffix: &str) -> String {
    [
        format!("AWS_ENDPOINT_URL_{suffix}"),
        "AWS_ENDPOINT_URL".into(),
    ]
    .iter()
    .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
    .map_or_else(|| "in AWS".to_owned(), |url| format!("at {url}"))
}

fn env_set(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !v.trim().is_empty())
}
