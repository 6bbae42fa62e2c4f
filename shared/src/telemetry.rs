//! Logging: JSON lines in Lambda (CloudWatch), readable text locally; level from `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Crates whose verbose output would carry secrets, and the most they may say whatever
/// `RUST_LOG` asks: DNS messages hold ownership tokens; the AWS SDK's TRACE lines hold
/// whole request and response bodies (items with tokens, the DKIM private key sent to SES).
const CAPPED: &[(&str, &str)] = &[
    ("hickory_net", "warn"),
    ("hickory_proto", "warn"),
    ("hickory_resolver", "warn"),
    ("aws_smithy_runtime", "debug"),
    ("aws_smithy_runtime_api", "debug"),
];

/// The filter for `spec` (a `RUST_LOG`-style directive list), with [`CAPPED`] applied.
pub fn filter_from(spec: &str) -> EnvFilter {
    CAPPED
        .iter()
        .fold(EnvFilter::new(spec), |filter, (target, level)| {
            filter.add_directive(
                format!("{target}={level}")
                    .parse()
                    .expect("valid directive"),
            )
        })
}

fn filter() -> EnvFilter {
    filter_from(&std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
}

pub fn init_json() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .try_init();
}

pub fn init_text() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .try_init();
}
