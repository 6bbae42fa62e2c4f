//! The contract checked by a fuzzer: Schemathesis (installed into `.tools/venv` by
//! `scripts/install-test-tools`, configured by `schemathesis.toml`) sends every phase's
//! generated requests to the real server, on each store, and checks every answer against
//! `docs/openapi.yaml`. Its report is written to the test command's output either way.

use std::io::Write;
use std::process::{Command, Stdio};

use devservers::root;
use serde_json::Value;
use testkit::{Backend, for_each_backend};

async fn schemathesis_finds_nothing(backend: Backend) {
    // Webhooks on, into loopback only: the hooks (below) point every generated https
    // address at a closed port there, so fuzzing sends nothing off this machine.
    let app = crate::webhooks::server(backend, "127.0.0.1/32").await;
    let root = root();
    let program = root.join(".tools/venv/bin/schemathesis");
    assert!(
        program.is_file(),
        "Schemathesis is not installed ({} is missing).\nRun `scripts/test` (it installs \
         everything the tests need), or `scripts/install-test-tools` once and then `cargo test`.",
        program.display()
    );
    let work = std::env::temp_dir().join(format!("schemathesis-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&work).expect("a scratch directory");
    let report = work.join("report.json");
    let mut command = Command::new(&program);
    command
        .arg("--config-file")
        .arg(root.join("schemathesis.toml"))
        .arg("run")
        .arg(root.join("docs/openapi.yaml"))
        .arg("--url")
        .arg(&app.address)
        .arg("--report")
        .arg("json")
        .arg("--report-json-path")
        .arg(&report)
        .env("DOMAINS_API_KEY", &app.key_a)
        .env(
            "SCHEMATHESIS_HOOKS",
            root.join("scripts/schemathesis_hooks.py"),
        )
        .env("NO_COLOR", "1")
        .current_dir(&work)
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the runner thread")
        .expect("Schemathesis starts");

    // Straight to the process's stderr, past the test harness's capture: the report belongs
    // in the test command's output whether the run passes or not.
    let mut shown = format!("\n===== Schemathesis on the {backend:?} store =====\n").into_bytes();
    shown.extend_from_slice(&output.stdout);
    shown.extend_from_slice(&output.stderr);
    let _ = std::io::stderr().lock().write_all(&shown);

    assert!(
        output.status.success(),
        "Schemathesis reports failures against the {backend:?} store (its report is above)"
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report).expect("the JSON report"))
        .expect("the report is JSON");
    let _ = std::fs::remove_dir_all(&work);
    for phase in ["examples", "coverage", "fuzzing", "stateful"] {
        assert_eq!(
            report["phases"][phase]["status"], "success",
            "the {phase} phase ran and passed: {report:#}"
        );
    }
    assert_eq!(report["failures"], Value::Array(Vec::new()), "{report:#}");
    assert!(
        report["test_cases"]["generated"].as_u64() > Some(500),
        "a run of a few hundred cases at least: {report:#}"
    );
    // The stateful phase follows the document's links from a registration to reading,
    // patching, verifying and deleting that domain.
    let text = String::from_utf8_lossy(&output.stdout);
    let covered = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("API Links:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u32>().ok());
    assert!(
        covered >= Some(4),
        "the stateful phase follows the links of a registration: {covered:?} covered"
    );
}

for_each_backend!(schemathesis_finds_nothing);
