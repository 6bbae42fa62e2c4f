//! Servers started in the background: bound to this process's life, waited for until
//! they listen.

use std::ffi::OsStr;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A server process that stops when it is dropped or the process that started it exits.
pub struct Server {
    /// Held open for the life of this value: the wrapper shell stops the server when it
    /// reads end-of-file here, so no server outlives its starter, even on a panic.
    _lifeline: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

/// Runs `program args...` in the background and waits until it listens on `port` of
/// 127.0.0.1 (at most `startup`); `what` names it in the error.
pub fn start_server<I, S>(
    what: &str,
    program: &OsStr,
    args: I,
    port: u16,
    startup: Duration,
) -> Result<Server, String>
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
) -> Result<Server, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    // The wrapper forwards nothing: it waits for its stdin to close (the `Server` dropped
    // or this process exiting), then stops the server. Ctrl-C reaches the whole process
    // group, the wrapper included, while a background job of a shell ignores SIGINT: so the
    // wrapper passes it on as SIGTERM, or Java would outlive everything.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(
            r#""$@" >/dev/null 2>&1 & pid=$!
trap 'kill "$pid" 2>/dev/null; exit 0' INT TERM HUP
cat >/dev/null
kill "$pid" 2>/dev/null"#,
        )
        .arg("sh")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let lifeline = child.stdin.take().expect("piped stdin");
    let deadline = Instant::now() + startup;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited during start-up ({status})"));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{what} did not listen on {addr} within {startup:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Server {
        _lifeline: Mutex::new(lifeline),
        _child: Mutex::new(child),
    })
}
