//! The `switchyard bench` command line: flags, the printed table, `--json`.
//!
//! The flags are part of a contract: `benches/compare.sh` and users' scripts
//! call them, and read the `--json` file's keys.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::{Era, Mix, Options};

/// Load-test an MCP endpoint (plain http:// only; HTTP/1.1, or h2c with --h2).
///
/// Opens one client per concurrency slot (in the session era each one
/// initializes, keeps its session and DELETEs it at the end), then sends
/// requests from the mix back to back (closed loop), or at a fixed total rate
/// with --rate (open loop: a request that could not leave on time because
/// every client was busy has its latency counted from its intended send time).
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The MCP endpoint, such as http://127.0.0.1:8080/mcp (http:// only).
    pub url: String,
    /// call, list, read, churn, or weights such as call=8,list=1,read=1.
    /// churn = initialize + one call + DELETE, a fresh session each time.
    #[arg(long, default_value = "call")]
    pub mix: Mix,
    /// Clients, each with one request in flight.
    #[arg(long, short, default_value_t = 16)]
    pub concurrency: usize,
    /// How long to measure (after warm-up), such as 10s or 1m.
    #[arg(long, short, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Measure this many requests in all instead of a duration.
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Requests sent before measuring, results discarded.
    /// Default: 2s with --duration, none with --requests.
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Open loop: send this many requests per second in total.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Protocol era: session (initialize, Mcp-Session-Id, 2025-06-18) or
    /// stateless (2026-07-28 `_meta` and mirrored headers).
    #[arg(long, value_enum, default_value = "session")]
    pub era: Era,
    /// Use HTTP/2 with prior knowledge (h2c), multiplexed.
    #[arg(long)]
    pub h2: bool,
    /// With --h2: how many shared connections.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// The tool `call` invokes.
    #[arg(long, default_value = "echo")]
    pub tool: String,
    /// The tool's arguments, a JSON object.
    #[arg(long, default_value = r#"{"text":"hello"}"#)]
    pub args: String,
    /// The resource `read` reads.
    #[arg(long, default_value = "mock://readme")]
    pub uri: String,
    /// Per-request timeout (counted as error kind `timeout`).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

/// Runs `switchyard bench`: prints the table on stdout, writes `--json`.
pub async fn main(args: BenchArgs) -> anyhow::Result<()> {
    let warmup = args.warmup.unwrap_or(if args.requests.is_some() { Duration::ZERO } else { Duration::from_secs(2) });
    let opts = Options {
        mix: args.mix,
        era: args.era,
        concurrency: args.concurrency,
        duration: args.duration,
        requests: args.requests,
        warmup,
        rate: args.rate,
        h2: args.h2,
        connections: args.connections,
        tool: args.tool,
        args: args.args,
        uri: args.uri,
        timeout: args.timeout,
        progress: !args.quiet,
        ..Options::new(args.url)
    };
    let report = super::run(&opts).await?;
    print!("{report}");
    if let Some(path) = &args.json {
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
