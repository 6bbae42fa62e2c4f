//! Servers the tests start: bound to this process's life, waited for until they listen.

use std::ffi::OsStr;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A server process that stops when the test process exits.
pub struct Server {
    /// Held open for the life of the test process: the wrapper shell stops the server
    /// when it reads end-of-file here, so no server outlives the tests, even on a panic.
    _lifeline: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

/// Runs `program args...` in the background and waits until it listens on `port` of
/// 127.0.0.1 (at most `startup`); `what` names it in failures.
pub fn start_server<I, S>(
    what: &str,
    program: &OsStr,
    args: I,
    port: u16,
    startup: Duration,
) -> Server
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    start_server_at(what, program, args, addr, startup)
}

/// As [`start_server`], waiting for TCP on `addr`. Dropping the [`Server`] stops it.
pub fn start_server_at<I, S>(
    what: &str,
    program: &OsStr,
    args: I,
    addr: SocketAddr,
    startup: Duration,
) -> Server
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    // The wrapper forwards nothing: it waits for its stdin to close (this process
    // exiting), then stops the server.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$@" >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill "$pid" 2>/dev/null"#)
        .arg("sh")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn sh for {what}: {e}"));
    let lifeline = child.stdin.take().expect("piped stdin");
    let deadline = Instant::now() + startup;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited during start-up ({status})");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {addr} within {startup:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        _lifeline: Mutex::new(lifeline),
        _child: Mutex::new(child),
    }
}
