//! The template's policies, resolved for a test account (`scripts/iam/policies.py`, with
//! cfn-lint's reader), and IAM's decision on each request (`scripts/iam/simulate.mjs`, with
//! the `@cloud-copilot/iam-simulate` evaluator): both installed by
//! `scripts/install-test-tools`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::calls::{Account, Authorization};

fn tools() -> PathBuf {
    devservers::root().join(".tools")
}

fn run(command: &mut Command, what: &str) -> Vec<u8> {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start ({e}); run scripts/install-test-tools"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Each function's statements (by binary name) and the sealing key's policy, from
/// `template.yaml` with these parameters.
pub fn policies(account: &Account, parameters: Value) -> Value {
    let mut given = json!({
        "AWS::AccountId": account.id,
        "AWS::Region": account.region,
        "AWS::Partition": account.partition,
        "ResourceNames": { "DomainsTable": account.table, "DkimSealingKey": account.key },
    });
    for (name, value) in parameters.as_object().expect("parameters") {
        given[name] = value.clone();
    }
    let root = devservers::root();
    let out = run(
        Command::new(tools().join("venv/bin/python"))
            .arg(root.join("scripts/iam/policies.py"))
            .arg(root.join("template.yaml"))
            .arg(given.to_string()),
        "scripts/iam/policies.py",
    );
    serde_json::from_slice(&out).expect("policies as JSON")
}

/// IAM's decision on each request, in order: `Allowed`, `ImplicitlyDenied`,
/// `ExplicitlyDenied` (or `Error` with the evaluator's reasons).
pub fn decide(policies: &Value, requests: &[Authorization]) -> Vec<Value> {
    let dir = tempdir();
    let (policies_path, requests_path) = (dir.join("policies.json"), dir.join("requests.json"));
    std::fs::write(&policies_path, policies.to_string()).unwrap();
    std::fs::write(&requests_path, serde_json::to_string(requests).unwrap()).unwrap();
    let out = run(
        Command::new("node")
            .arg(devservers::root().join("scripts/iam/simulate.mjs"))
            .arg(tools().join("iam-simulate"))
            .arg(&policies_path)
            .arg(&requests_path),
        "scripts/iam/simulate.mjs",
    );
    let _ = std::fs::remove_dir_all(&dir);
    let decisions: Vec<Value> = serde_json::from_slice(&out).expect("decisions as JSON");
    assert_eq!(decisions.len(), requests.len());
    decisions
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "iam-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
