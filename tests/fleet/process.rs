//! `switchyard mock` as a real child process, for the tests that must see
//! what a SIGKILL does to a real server: the kernel closes its listener and
//! its connections, and nothing of it answers again.

use std::process::Stdio;

use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

/// How long the child may take to start or to die.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// A `switchyard mock --http` child on an ephemeral port, killed when dropped.
pub struct Process {
    /// `http://127.0.0.1:port/mcp`, as the mock printed it.
    pub url: String,
    child: Child,
}

impl Process {
    /// Starts one with `args` (such as `["--latency", "40ms"]`) and waits
    /// for the URL it prints once it listens.
    pub async fn start(args: &[&str]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["mock", "--http", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn switchyard mock");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let url = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .expect("the mock never printed its URL")
            .expect("read the mock's stdout")
            .expect("the mock exited before printing its URL");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Process { url, child }
    }

    /// SIGKILLs it and returns once it is reaped, so that its sockets are
    /// closed.
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL the mock");
        tokio::time::timeout(DEADLINE, self.child.wait()).await.expect("the mock outlived SIGKILL").expect("reap");
    }
}
