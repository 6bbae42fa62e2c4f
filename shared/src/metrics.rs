//! What the service counts, written as CloudWatch Embedded Metric Format (EMF) lines: JSON
//! log lines from which CloudWatch Logs extracts metrics, so a function publishes metrics
//! without an API call (or a CloudWatch permission) on its request path.
//!
//! Recording is off until a host turns it on ([`enable`]): the Lambda hosts do, and write
//! what was recorded after each invocation ([`flush`]); the local server and most tests
//! leave it off, so nothing accumulates where nobody reads it.
//!
//! Written to the specification rather than through a metrics facade, because a metric
//! here is published under several dimension sets at once (requests by endpoint and
//! status class, by status class alone, and in all) from one value, which the facade's
//! one-label-set-per-series model cannot say; the unit tests hold every line to the
//! specification's structure.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "EmailDomains";

/// The most values one metric may carry in one document (the specification's limit).
pub const MAX_VALUES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// How the values recorded between two flushes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Summed into one value (a count of things that happened).
    Sum,
    /// Each value kept (up to [`MAX_VALUES`] a document), so CloudWatch can give
    /// percentiles (a latency, queries per check).
    Values,
}

/// One metric: its name, unit and dimensions. `dimensions` are the keys a recording gives
/// values for, in order; `rollups` are the dimension sets it is published under (each a
/// subset of `dimensions`; the empty set is the total over all of them).
#[derive(Debug)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub kind: Kind,
    pub dimensions: &'static [&'static str],
    pub rollups: &'static [&'static [&'static str]],
}

/// API requests, by endpoint (its function's name) and status class (`2xx`…`5xx`).
pub const REQUESTS: Metric = Metric {
    name: "Requests",
    unit: Unit::Count,
    kind: Kind::Sum,
    dimensions: &["Endpoint", "StatusClass"],
    rollups: &[&["Endpoint", "StatusClass"], &["StatusClass"], &[]],
};

/// How long an API request took in the handler, by endpoint and status class.
pub const LATENCY: Metric = Metric {
    name: "Latency",
    unit: Unit::Milliseconds,
    kind: Kind::Values,
    dimensions: &["Endpoint", "StatusClass"],
    rollups: &[&["Endpoint", "StatusClass"], &["Endpoint"]],
};

/// Records checked against DNS, by their finding (`verified`, `missing`, `wrong_value`,
/// `temporary_failure`, …), from verifies and the sweep alike.
pub const RECORD_CHECKS: Metric = Metric {
    name: "RecordChecks",
    unit: Unit::Count,
    kind: Kind::Sum,
    dimensions: &["RecordStatus"],
    rollups: &[&["RecordStatus"]],
};

/// DNS queries one check of a domain (all its records) sent, resends included.
pub const DNS_QUERIES: Metric = distribution("DnsQueriesPerCheck", Unit::Count);

/// Domains that turned active.
pub const ACTIVATIONS: Metric = plain("Activations");
/// Active domains whose required records stopped verifying.
pub const DEGRADATIONS: Metric = plain("Degradations");
/// Domains that turned failed (never verified within 72 hours, or degraded for 72 hours).
pub const FAILURES: Metric = plain("Failures");

/// Domains due for a check when a sweep run started (at most the run's limit).
pub const SWEEP_BACKLOG: Metric = distribution("SweepBacklog", Unit::Count);

/// How long the most overdue domain had been due when a sweep run started.
pub const OLDEST_DUE_AGE: Metric = distribution("OldestDueAge", Unit::Seconds);

/// Lifecycle events put on the bus.
pub const EVENTS_PUBLISHED: Metric = plain("EventsPublished");
/// Lifecycle events the bus refused or could not take (retried from the stream).
pub const EVENTS_FAILED: Metric = plain("EventsFailed");

/// Attempts to deliver to webhook endpoints, by outcome (`delivered`, `failed`,
/// `unreachable`, `refused`).
pub const WEBHOOK_DELIVERIES: Metric = Metric {
    name: "WebhookDeliveries",
    unit: Unit::Count,
    kind: Kind::Sum,
    dimensions: &["Outcome"],
    rollups: &[&["Outcome"], &[]],
};

/// At each tick of the webhook deliverer's schedule, once its due retries are made: how
/// long the most overdue retry left has been due (0 when none is).
pub const WEBHOOK_RETRY_AGE: Metric = distribution("WebhookOldestDueAge", Unit::Seconds);

/// Every metric the code records: what the alarms and the dashboard may name.
pub const ALL: &[&Metric] = &[
    &REQUESTS,
    &LATENCY,
    &RECORD_CHECKS,
    &DNS_QUERIES,
    &ACTIVATIONS,
    &DEGRADATIONS,
    &FAILURES,
    &SWEEP_BACKLOG,
    &OLDEST_DUE_AGE,
    &EVENTS_PUBLISHED,
    &EVENTS_FAILED,
    &WEBHOOK_DELIVERIES,
    &WEBHOOK_RETRY_AGE,
];

/// A metric without dimensions whose every value is kept.
const fn distribution(name: &'static str, unit: Unit) -> Metric {
    Metric {
        name,
        unit,
        kind: Kind::Values,
        dimensions: &[],
        rollups: &[&[]],
    }
}

/// A count without dimensions.
const fn plain(name: &'static str) -> Metric {
    Metric {
        name,
        unit: Unit::Count,
        kind: Kind::Sum,
        dimensions: &[],
        rollups: &[&[]],
    }
}

/// Values recorded since the last flush, per metric and dimension values.
#[derive(Default)]
struct Recorded {
    series: BTreeMap<(&'static str, Vec<String>), Vec<f64>>,
    /// Documents already full ([`MAX_VALUES`]), waiting for the next flush.
    full: Vec<String>,
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static RECORDED: Mutex<Option<Recorded>> = Mutex::new(None);

/// Turns recording on for this process.
pub fn enable() {
    ENABLED.store(true, Ordering::Release);
}

fn is_enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Records `value` for `metric` with `dimensions` (values for `metric.dimensions`, in
/// order). Does nothing while recording is off.
pub fn record(metric: &'static Metric, dimensions: &[&str], value: f64) {
    if !is_enabled() {
        return;
    }
    debug_assert_eq!(dimensions.len(), metric.dimensions.len(), "{}", metric.name);
    let key = (
        metric.name,
        dimensions.iter().map(|v| (*v).to_owned()).collect(),
    );
    let mut guard = RECORDED.lock().unwrap_or_else(PoisonError::into_inner);
    let recorded = guard.get_or_insert_with(Recorded::default);
    let values = recorded.series.entry(key).or_default();
    match metric.kind {
        Kind::Sum => match values.first_mut() {
            Some(sum) => *sum += value,
            None => values.push(value),
        },
        Kind::Values => {
            values.push(value);
            if values.len() == MAX_VALUES {
                let full = std::mem::take(values);
                let document = document(metric, dimensions, &full, now_ms());
                recorded.full.push(document);
            }
        }
    }
}

/// Counts one occurrence.
pub fn count(metric: &'static Metric, dimensions: &[&str]) {
    record(metric, dimensions, 1.0);
}

/// Everything recorded since the last call, as EMF lines stamped `timestamp_ms`, and
/// forgets it.
pub fn take_lines(timestamp_ms: i64) -> Vec<String> {
    let recorded = RECORDED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    let mut lines = recorded.full;
    for ((name, dimensions), values) in recorded.series {
        if values.is_empty() {
            continue;
        }
        let Some(metric) = ALL.iter().find(|m| m.name == name) else {
            continue;
        };
        let dimensions: Vec<&str> = dimensions.iter().map(String::as_str).collect();
        lines.push(document(metric, &dimensions, &values, timestamp_ms));
    }
    lines
}

/// Writes what was recorded since the last flush to standard output, where Lambda hands
/// it to CloudWatch Logs. A host calls it at the end of each invocation.
pub fn flush() {
    if !is_enabled() {
        return;
    }
    let lines = take_lines(now_ms());
    if lines.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        // Metrics are worth less than the invocation: a closed stdout loses them only.
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// One EMF document: the directive, the dimension values and the metric's values (one
/// value unwrapped, as CloudWatch Logs Insights reads it most easily).
fn document(metric: &Metric, dimensions: &[&str], values: &[f64], timestamp_ms: i64) -> String {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": metric.rollups,
                "Metrics": [{"Name": metric.name, "Unit": metric.unit.as_str()}],
            }],
        }),
    );
    for (key, value) in metric.dimensions.iter().zip(dimensions) {
        root.insert((*key).into(), Value::String((*value).to_owned()));
    }
    let value = match values {
        [one] => json!(one),
        many => json!(many),
    };
    root.insert(metric.name.into(), value);
    Value::Object(root).to_string()
}

/// The status class of an HTTP status code, as the `StatusClass` dimension says it.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_document_per_series_with_every_rollup() {
        let line = document(
            &REQUESTS,
            &["verify-domain", "4xx"],
            &[3.0],
            1_700_000_000_000,
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["Endpoint"], "verify-domain");
        assert_eq!(parsed["StatusClass"], "4xx");
        assert_eq!(parsed["Requests"], 3.0);
        let directive = &parsed["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"],
            json!([["Endpoint", "StatusClass"], ["StatusClass"], []])
        );
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Requests", "Unit": "Count"}])
        );
        let many = document(&LATENCY, &["get-domain", "2xx"], &[1.0, 2.5], 0);
        let parsed: Value = serde_json::from_str(&many).unwrap();
        assert_eq!(parsed["Latency"], json!([1.0, 2.5]));
    }

    #[test]
    fn rollups_name_only_the_metrics_own_dimensions() {
        for metric in ALL {
            assert!(!metric.rollups.is_empty(), "{}", metric.name);
            for set in metric.rollups {
                for key in *set {
                    assert!(metric.dimensions.contains(key), "{}: {key}", metric.name);
                }
            }
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(201), "2xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
