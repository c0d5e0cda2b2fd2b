//! A real `redis-server` for tests: found on the machine, or installed from
//! Debian's package when absent (non-interactively), then started on a unix
//! socket in a temp dir (`--port 0`, so no TCP port is taken or raced for)
//! and killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::DEADLINE;

/// A running `redis-server`, killed on drop.
pub struct Redis {
    child: Child,
    server: PathBuf,
    dir: PathBuf,
    socket: PathBuf,
}

impl Redis {
    /// Starts one, installing the server first if this machine has none.
    pub async fn start() -> Redis {
        let server = tokio::task::spawn_blocking(find_or_install).await.unwrap();
        let dir = std::env::temp_dir().join(format!("switchyard-redis-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("redis.sock");
        let child = spawn(&server, &dir, &socket);
        let redis = Redis { child, server, dir, socket };
        redis.wait_until_serving().await;
        redis
    }

    /// Kills the server (its data goes with it).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Starts a fresh server on the same socket, after [`Redis::kill`].
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.server, &self.dir, &self.socket);
        self.wait_until_serving().await;
    }

    /// The store URL for a config.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// Waits until the server answers `PING` on its socket.
    async fn wait_until_serving(&self) {
        let ping = async {
            loop {
                if let Ok(mut s) = tokio::net::UnixStream::connect(&self.socket).await {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 7];
                    if s.write_all(b"PING\r\n").await.is_ok()
                        && s.read_exact(&mut buf).await.is_ok()
                        && &buf == b"+PONG\r\n"
                    {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(DEADLINE, ping).await.expect("redis-server did not start serving");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(server: &Path, dir: &Path, socket: &Path) -> Child {
    Command::new(server)
        .args(["--port", "0", "--unixsocket"])
        .arg(socket)
        .args(["--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()))
}

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// `redis-server` from `PATH` or Debian's usual place; installed with
/// apt-get when neither has it. One test at a time installs.
fn find_or_install() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = find() {
        return found;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = ["install", "-y", "-q", "--no-install-recommends", "redis-server"];
    // The package lists may be missing or stale on a fresh machine.
    if !apt(&install) {
        assert!(apt(&["update", "-q"]), "apt-get update failed; install redis-server by hand");
        assert!(apt(&install), "apt-get install redis-server failed; install it by hand");
    }
    find().expect("redis-server installed but not found")
}

fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
