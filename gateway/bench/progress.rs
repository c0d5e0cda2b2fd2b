//! The live progress line on stderr.
//!
//! On a terminal it rewrites one line about once a second; otherwise (a log
//! file, CI) it prints a plain line every five seconds, so logs stay readable.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::worker::Context;

/// A running progress reporter; [`Progress::finish`] stops it.
pub(crate) struct Progress {
    task: JoinHandle<()>,
    terminal: bool,
}

impl Progress {
    pub(crate) fn spawn(ctx: Arc<Context>, measure_from: Instant) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let every = if terminal { Duration::from_secs(1) } else { Duration::from_secs(5) };
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut tick = tokio::time::interval_at(started + every, every);
            let mut last = (started, 0u64);
            loop {
                let now = tick.tick().await;
                let done = ctx.recorder.done.load(Ordering::Relaxed);
                let failed = ctx.recorder.failed.load(Ordering::Relaxed);
                let rate =
                    done.saturating_sub(last.1) as f64 / now.saturating_duration_since(last.0).as_secs_f64().max(1e-3);
                last = (now, done);
                let phase = if now < measure_from { "warm-up" } else { "running" };
                let elapsed = now.saturating_duration_since(started).as_secs();
                let line = format!("[{elapsed:>4}s] {phase}: {done} requests, {rate:.0} req/s, {failed} errors");
                let mut err = std::io::stderr().lock();
                let _ = if terminal { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
                let _ = err.flush();
            }
        });
        Self { task, terminal }
    }

    /// Stops the reporter and clears its line.
    pub(crate) fn finish(self) {
        self.task.abort();
        if self.terminal {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
