//! Logging: JSON lines in Lambda (CloudWatch), readable text locally; level from `RUST_LOG`.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{Level, Span};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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

/// The Lambda functions' filter: `spec` as `target=level` directives, with [`CAPPED`]
/// applied. Not an [`EnvFilter`]: its span and field filters would link a regex engine into
/// every function, which no function's logging needs. A spec that does not parse is
/// `info`.
pub fn targets_from(spec: &str) -> Targets {
    let asked: Targets = spec
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    CAPPED.iter().fold(asked.clone(), |targets, (target, cap)| {
        let asked_for = [
            Level::TRACE,
            Level::DEBUG,
            Level::INFO,
            Level::WARN,
            Level::ERROR,
        ]
        .into_iter()
        .find(|level| asked.would_enable(target, level))
        .map_or(LevelFilter::OFF, LevelFilter::from_level);
        targets.with_target(*target, asked_for.min(*cap))
    })
}

/// True until the first invocation of this process has been logged.
static COLD_START: AtomicBool = AtomicBool::new(true);

/// The span one Lambda invocation is logged in, so every line it causes carries the
/// invocation's request id, its X-Ray trace id and whether it was the process's first
/// (`cold_start`). The HTTP functions' own request span records the same fields
/// ([`record_invocation`]).
pub fn invocation_span(function: &'static str, context: &lambda_http::Context) -> Span {
    let span = tracing::info_span!(
        "invocation",
        request_id = %context.request_id,
        function,
        xray_trace_id = tracing::field::Empty,
        cold_start = tracing::field::Empty,
    );
    record_invocation(&span, context);
    span
}

/// Records on `span` (declared with empty `xray_trace_id` and `cold_start` fields) what
/// Lambda says of this invocation.
pub fn record_invocation(span: &Span, context: &lambda_http::Context) {
    if let Some(trace) = &context.xray_trace_id {
        span.record("xray_trace_id", trace.as_str());
    }
    span.record("cold_start", COLD_START.swap(false, Ordering::Relaxed));
}

/// JSON lines for CloudWatch, level from `RUST_LOG` (default `info`). Each line names the
/// span it was written in (`span`: the invocation's request id, trace id, `cold_start`);
/// the time is Lambda's own (its JSON log format stamps every line).
pub fn init_json() {
    let spec = crate::config::log_spec_from_env("info");
    let _ = tracing_subscriber::registry()
        .with(json_lines(std::io::stdout))
        .with(targets_from(&spec))
        .try_init();
}

/// The functions' JSON lines, written to `writer` (standard output in Lambda; a buffer in
/// the tests that read them).
pub fn json_lines<S, W>(writer: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_writer(writer)
}

/// Human-readable, on standard error: standard output is for what a command prints
/// (`domainctl keys create` prints the key there, alone).
///
/// Unless `RUST_LOG` says otherwise, the AWS configuration chain's warnings (a laptop has
/// no instance metadata service to ask for a region or credentials) are left out: the local
/// tools check the configuration themselves and say in one line what to set.
pub fn init_text() {
    let spec = crate::config::log_spec_from_env("info,aws_config=error,aws_smithy_runtime=warn");
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

    #[test]
    fn the_functions_caps_lower_and_never_raise() {
        let verbose = targets_from("trace");
        assert!(verbose.would_enable("domains::http", &Level::TRACE));
        assert!(!verbose.would_enable("hickory_net::udp", &Level::INFO));
        assert!(verbose.would_enable("hickory_net", &Level::WARN));
        assert!(!verbose.would_enable("aws_smithy_runtime::client", &Level::TRACE));
        assert!(verbose.would_enable("aws_smithy_runtime", &Level::DEBUG));
        assert!(!verbose.would_enable("lambda_runtime", &Level::TRACE));
        let quiet = targets_from("warn,hickory_net=error");
        assert!(!quiet.would_enable("hickory_net", &Level::WARN));
        assert!(!quiet.would_enable("aws_smithy_runtime", &Level::INFO));
        let unreadable = targets_from("[{x=1}]=trace");
        assert!(unreadable.would_enable("domains", &Level::INFO));
        assert!(!unreadable.would_enable("domains", &Level::DEBUG));
    }
}
