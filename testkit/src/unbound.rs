//! Unbound (NLnet Labs' validating, recursive, caching resolver, from Debian's packages) in
//! front of a test hierarchy: a real resolver that iterates from the test root and caches
//! answers, negative ones included, as resolvers in the field do.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use devservers::{Server, start_server_at};

pub struct Unbound {
    pub addr: SocketAddr,
    dir: PathBuf,
    _server: Server,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `unbound` from PATH or Debian's /usr/sbin; installed by `scripts/install-test-tools`.
fn program() -> PathBuf {
    if let Some(path) = std::env::var_os("UNBOUND") {
        return PathBuf::from(path);
    }
    let debian = Path::new("/usr/sbin/unbound");
    if debian.is_file() {
        return debian.to_path_buf();
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("unbound"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "unbound is not installed. Run `scripts/test` (it installs everything the tests \
             need), or `apt-get install unbound`."
        )
    })
}

/// Starts Unbound on `listen:53`, with `root` (an address serving the root zone on port
/// 53) as its only root server, and waits until it listens.
pub fn start(listen: Ipv4Addr, root: Ipv4Addr) -> Unbound {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "testkit-unbound-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("unbound's directory");
    let hints = dir.join("root.hints");
    std::fs::write(
        &hints,
        format!(". 3600000 IN NS a.root.\na.root. 3600000 IN A {root}\n"),
    )
    .expect("write root hints");
    let config = dir.join("unbound.conf");
    std::fs::write(
        &config,
        format!(
            r#"server:
    interface: {listen}
    port: 53
    do-ip6: no
    # The test servers live on loopback, which Unbound otherwise never asks.
    do-not-query-localhost: no
    # Test zones name private and link-local addresses on purpose (to see the checker
    # refuse them); the resolver must not send them a packet either: nothing leaves
    # 127.0.0.0/8.
    do-not-query-address: 0.0.0.0/2
    do-not-query-address: 64.0.0.0/3
    do-not-query-address: 96.0.0.0/4
    do-not-query-address: 112.0.0.0/5
    do-not-query-address: 120.0.0.0/6
    do-not-query-address: 124.0.0.0/7
    do-not-query-address: 126.0.0.0/8
    do-not-query-address: 128.0.0.0/1
    access-control: 127.0.0.0/8 allow
    root-hints: "{hints}"
    # Iterate without validating: the test zones are not signed.
    module-config: "iterator"
    qname-minimisation: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    so-reuseport: no
remote-control:
    control-enable: no
"#,
            hints = hints.display(),
            dir = dir.display(),
        ),
    )
    .expect("write unbound.conf");
    let server = start_server_at(
        "unbound",
        program().as_os_str(),
        ["-d", "-c", config.to_str().expect("UTF-8 temp path")],
        SocketAddr::from((listen, 53)),
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Unbound {
        addr: SocketAddr::from((listen, 53)),
        dir,
        _server: server,
    }
}
