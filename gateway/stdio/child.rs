//! Starting and stopping one child process.
//!
//! A child must never outlive the gateway: it runs in its own process group,
//! is killed when its handle drops, and on Linux gets SIGKILL from the kernel
//! when the gateway dies, even by SIGKILL (a parent-death signal). Stopping
//! follows the MCP spec's order: close stdin, wait, SIGTERM, wait, SIGKILL;
//! the child is always reaped.
//!
//! A child does not inherit the gateway's environment, which holds the
//! gateway's own secrets (the session key's variable, admin tokens, cloud
//! credentials) that an MCP server from npm or PyPI has no business reading.
//! It gets [`INHERITED_ENV`] from it, the list the official MCP SDKs give
//! their stdio servers (plus `TMPDIR` and `LANG`), so that `npx` and `uvx`
//! still find their caches and tools, then the backend's `env`. A backend
//! with `inherit_env = true` gets the whole environment, as before.

use std::ffi::OsString;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use crate::config;

/// How long a child gets after stdin closes, and again after SIGTERM.
pub const STOP_WAIT: Duration = Duration::from_secs(2);

/// Variables a child copies from the gateway's environment when they are
/// set, unless its backend has `inherit_env = true`.
pub const INHERITED_ENV: &[&str] = &["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "TMPDIR", "LANG"];

/// A started child and its pipes.
pub struct Spawned {
    /// The process handle; dropping it kills the child.
    pub child: Child,
    /// Requests go here.
    pub stdin: ChildStdin,
    /// Replies and notifications come from here.
    pub stdout: ChildStdout,
    /// Logging comes from here.
    pub stderr: ChildStderr,
}

/// Starts the backend's command.
///
/// Must be called from a runtime worker thread: the parent-death signal fires
/// when the *thread* that forked the child exits, and worker threads live as
/// long as the runtime, unlike blocking-pool threads.
pub fn spawn(cfg: &config::Backend) -> std::io::Result<Spawned> {
    let program = cfg.program();
    let mut cmd = Command::new(program);
    if !cfg.inherit_env {
        cmd.env_clear().envs(inherited(|name| std::env::var_os(name)));
    }
    cmd.args(&cfg.args)
        .envs(&cfg.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    if let Some(cwd) = &cfg.cwd {
        cmd.current_dir(cwd);
    }
    #[cfg(target_os = "linux")]
    set_parent_death_signal(&mut cmd);
    let mut child = cmd.spawn()?;
    let missing = || std::io::Error::other("child pipe missing");
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let stderr = child.stderr.take().ok_or_else(missing)?;
    Ok(Spawned { child, stdin, stdout, stderr })
}

/// The [`INHERITED_ENV`] variables `lookup` finds. A value that starts with
/// `()` is left out, as the SDKs do: it is a shell function definition,
/// the shape of the Shellshock attack, never a real `PATH` or `HOME`.
fn inherited(lookup: impl Fn(&str) -> Option<OsString>) -> Vec<(&'static str, OsString)> {
    INHERITED_ENV
        .iter()
        .filter_map(|name| Some((*name, lookup(name)?)))
        .filter(|(_, value)| !value.as_encoded_bytes().starts_with(b"()"))
        .collect()
}

/// The one use of `unsafe` in the crate: `pre_exec` runs between fork and
/// exec, where only async-signal-safe calls are allowed; `prctl` is one.
/// Without it, a gateway killed by SIGKILL would leave its children running.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_parent_death_signal(cmd: &mut Command) {
    // SAFETY: the closure only calls prctl(PR_SET_PDEATHSIG), which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from));
    }
}

/// Stops a child in the spec's order and reaps it. `stdin` is dropped first
/// (by the caller or here), which closes the child's input.
pub async fn stop(mut child: Child, stdin: Option<ChildStdin>) {
    drop(stdin);
    if let Ok(Ok(_)) = tokio::time::timeout(STOP_WAIT, child.wait()).await {
        return;
    }
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    }
    if let Ok(Ok(_)) = tokio::time::timeout(STOP_WAIT, child.wait()).await {
        return;
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_variables_that_are_set_and_not_functions_are_inherited() {
        let lookup = |name: &str| match name {
            "PATH" => Some(OsString::from("/usr/bin")),
            "TERM" => Some(OsString::from("() { :; }; echo pwned")),
            "SECRET" => Some(OsString::from("hunter2")),
            _ => None,
        };
        assert_eq!(inherited(lookup), [("PATH", OsString::from("/usr/bin"))]);
    }
}
