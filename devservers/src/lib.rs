//! The local stand-ins for AWS that the tests and `domainctl dev` start: DynamoDB Local
//! (AWS's own implementation, on Java) and moto in server mode (SES v2, Route 53,
//! EventBridge, KMS, …), both installed into `.tools/` by `scripts/install-test-tools`.
//! Each runs on a free loopback port and stops when its [`Server`] is dropped or the
//! process that started it exits.

mod process;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

pub use process::{Server, start_server, start_server_at};

/// What to run when something is missing.
pub const INSTALL_HINT: &str = "run `scripts/install-test-tools` (the test command and \
    `scripts/dev` run it for you)";

/// A port nothing listens on right now (bind, read, release).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("bind an ephemeral port on 127.0.0.1: {e}"))
}

/// The most memory a process has held resident (`VmHWM`), in MiB: `pid` as `/proc` names
/// it (`"self"` for this one). For the benchmarks; NaN where `/proc` does not say.
pub fn peak_rss_mib(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The repository's root (this crate is one of its members).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where DynamoDB Local is installed: `.tools/dynamodb-local`, or `DYNAMODB_LOCAL_DIR`.
fn dynamodb_local_dir() -> PathBuf {
    std::env::var_os("DYNAMODB_LOCAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".tools/dynamodb-local"))
}

/// DynamoDB Local, in memory, on `port` of 127.0.0.1.
pub fn dynamodb_local(port: u16) -> Result<Server, String> {
    let dir = dynamodb_local_dir();
    let jar = dir.join("DynamoDBLocal.jar");
    if !jar.is_file() {
        return Err(format!(
            "DynamoDB Local is not installed at {}: {INSTALL_HINT}",
            dir.display()
        ));
    }
    let java_ok = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !java_ok {
        return Err(format!(
            "DynamoDB Local needs Java 17+ on PATH (apt-get install openjdk-17-jre-headless): \
             {INSTALL_HINT}"
        ));
    }
    let args = [
        format!(
            "-Djava.library.path={}",
            dir.join("DynamoDBLocal_lib").display()
        ),
        "-jar".into(),
        jar.display().to_string(),
        "-inMemory".into(),
        "-port".into(),
        port.to_string(),
    ];
    start_server(
        "DynamoDB Local",
        "java".as_ref(),
        args,
        port,
        Duration::from_secs(60),
    )
}

/// moto in server mode on `port` of 127.0.0.1, through `scripts/moto_server.py` (its
/// patches and fault switch) with the Python of `.tools/venv`, or `MOTO_PYTHON`.
pub fn moto(port: u16) -> Result<Server, String> {
    let python = std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".tools/venv/bin/python"));
    if !python.is_file() {
        return Err(format!(
            "moto is not installed ({} is missing): {INSTALL_HINT}",
            python.display()
        ));
    }
    let script = root().join("scripts/moto_server.py");
    let args = [script.into_os_string(), port.to_string().into()];
    start_server(
        "moto",
        python.as_os_str(),
        args,
        port,
        Duration::from_secs(60),
    )
}
