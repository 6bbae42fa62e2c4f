//! Configuration mistakes a newcomer makes stop `domainctl serve` before it listens, with
//! one line naming the fix (not a 5xx on the first request).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `domainctl serve` with nothing from this environment but `PATH` and the given
/// variables (and a home without AWS files), on a port nobody uses.
fn serve_with(vars: &[(&str, &str)]) -> (bool, String, String) {
    let home = std::env::temp_dir().join(format!("startup-home-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&home).unwrap();
    let port = devservers::free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_domainctl"));
    command
        .args(["serve", "--port", &port.to_string()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        // No instance metadata service here; a laptop's answer comes as fast.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(vars.iter().copied())
        .stdin(Stdio::null());
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that starts would never exit: give up after a while and say so.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(PathBuf::from(&home));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Exits with failure before serving, with exactly one line saying `fix`.
#[track_caller]
fn refuses(vars: &[(&str, &str)], fix: &str) {
    let (ok, stdout, stderr) = serve_with(vars);
    assert!(!ok, "it started: {stdout}{stderr}");
    assert!(
        !stdout.contains("Domains API on"),
        "it listened before refusing: {stdout}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, not {}: {stderr}", lines.len());
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains(fix),
        "{:?} does not say {fix:?}",
        lines[0]
    );
}

/// testkit's: DynamoDB Local keeps a separate set of tables per access key.
const CREDENTIALS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
];

#[test]
fn a_table_without_a_region() {
    refuses(&[("DOMAINS_TABLE", "domains")], "set AWS_REGION");
}

#[test]
fn a_table_without_credentials() {
    refuses(
        &[("DOMAINS_TABLE", "domains"), ("AWS_REGION", "us-east-1")],
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    );
}

#[test]
fn dynamodb_unreachable() {
    let closed = format!("http://127.0.0.1:{}", devservers::free_port());
    let mut vars = vec![
        ("DOMAINS_TABLE", "domains"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_DYNAMODB", closed.as_str()),
    ];
    vars.extend(CREDENTIALS);
    refuses(&vars, "is DynamoDB Local running?");
}

#[test]
fn a_table_that_does_not_exist() {
    let dynamo = testkit::dynamodb_local();
    let mut vars = vec![
        ("DOMAINS_TABLE", "no-such-table"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamo.endpoint.as_str()),
    ];
    vars.extend(CREDENTIALS);
    refuses(&vars, "create it with `domainctl table create`");
}

/// `AWS_ENDPOINT_URL` at DynamoDB Local also sends SES and Route 53 there: once every
/// registration answered 503 for it.
#[test]
fn every_service_sent_to_dynamodb_local() {
    let dynamo = testkit::dynamodb_local();
    let table = format!("domains-{}", ulid::Ulid::new().to_string().to_lowercase());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        domains::store::schema::create_table(&dynamo.client(), &table)
            .await
            .unwrap();
    });
    let mut vars = vec![
        ("DOMAINS_TABLE", table.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", dynamo.endpoint.as_str()),
    ];
    vars.extend(CREDENTIALS);
    refuses(&vars, "set AWS_ENDPOINT_URL_DYNAMODB instead");
}

#[test]
fn moto_unreachable() {
    let closed = format!("http://127.0.0.1:{}", devservers::free_port());
    let mut vars = vec![
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", closed.as_str()),
    ];
    vars.extend(CREDENTIALS);
    refuses(&vars, "is moto running?");
}

#[test]
fn an_endpoint_without_a_region() {
    refuses(
        &[("AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:5000")],
        "set AWS_REGION",
    );
}
