//! Logging: JSON lines in Lambda (CloudWatch), readable text locally; level from `RUST_LOG`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// Crates whose verbose output would carry secrets, and the most they may say whatever
/// `RUST_LOG` asks: DNS messages hold ownership tokens; the AWS SDK's TRACE lines hold
/// whole response bodies (table items with their tokens); the Lambda runtime's TRACE line
/// "raw JSON event received from Lambda" holds the request with its `Authorization` header.
const CAPPED: &[(&str, LevelFilter)] = &[
    ("lambda_runtime", LevelFilter::DEBUG),
    ("hickory_net", LevelFilter::WARN),
    ("hickory_proto", LevelFilter::WARN),
    ("hickory_resolver", LevelFilter::WARN),
    ("aws_smithy_runtime", LevelFilter::DEBUG),
    ("aws_smithy_runtime_api", LevelFilter::DEBUG),
];

/// The filter for `spec` (a `RUST_LOG`-style directive list), with [`CAPPED`] applied: a
/// cap only ever lowers what `spec` lets through, never raises it.
pub fn filter_from(spec: &str) -> EnvFilter {
    let most_verbose = EnvFilter::new(spec)
        .max_level_hint()
        .unwrap_or(LevelFilter::TRACE);
    CAPPED.iter().filter(|(_, cap)| most_verbose > *cap).fold(
        EnvFilter::new(spec),
        |filter, (target, cap)| {
            filter.add_directive(format!("{target}={cap}").parse().expect("valid directive"))
        },
    )
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

/// Human-readable, on standard error: standard output is for what a command prints
/// (`domainctl keys create` prints the key there, alone).
///
/// Unless `RUST_LOG` says otherwise, the AWS configuration chain's warnings (a laptop has
/// no instance metadata service to ask for a region or credentials) are left out: the local
/// tools check the configuration themselves and say in one line what to set.
pub fn init_text() {
    let spec = std::env::var("RUST_LOG")
        .unwrap_or_else(|_| "info,aws_config=error,aws_smithy_runtime=warn".into());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter_from(&spec))
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_lower_and_never_raise() {
        let default = filter_from("info");
        assert_eq!(default.max_level_hint(), Some(LevelFilter::INFO));
        let verbose = filter_from("trace").to_string();
        assert!(verbose.contains("hickory_net=warn"), "{verbose}");
        assert!(verbose.contains("aws_smithy_runtime=debug"), "{verbose}");
        assert!(verbose.contains("lambda_runtime=debug"), "{verbose}");
        let quiet = filter_from("warn").to_string();
        assert!(!quiet.contains("aws_smithy_runtime"), "{quiet}");
    }
}
