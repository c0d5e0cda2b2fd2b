//! The `switchyard` command: run the gateway, check a config, or run the
//! built-in mock MCP server.

// jemalloc rather than glibc's malloc: about 10% fewer instructions per
// proxied request, a similar peak RSS with a thousand sessions open, and
// memory handed back once they close (glibc kept its peak). Measured in
// benches/RESULTS.md, "Allocator". Dirty pages are purged after a second by
// a background thread, so an idle gateway does not sit on a burst's peak.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static malloc_conf: Option<&'static std::ffi::c_char> =
    Some(unsafe { &*c"background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr() });

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchyard::config::{self, Config};
use switchyard::mock::{self, MockOptions};
use switchyard::telemetry::logs::{self, LogFormat};

/// An MCP gateway and reverse proxy.
#[derive(Parser)]
#[command(name = "switchyard", version, about)]
struct Cli {
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value = "pretty")]
    log_format: LogFormat,
    /// Log filter in RUST_LOG syntax, such as `info,switchyard=debug`.
    /// Defaults to $RUST_LOG, then `info`.
    #[arg(long, global = true)]
    log: Option<String>,
    /// Config file, for `switchyard --config FILE` without `run`.
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (what a bare `switchyard` does).
    Run {
        /// Config file. Without it, ./switchyard.toml, then the embedded demo config.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a config file and print it normalized, or print every error.
    Check {
        /// Config file to check.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the built-in mock MCP server.
    Mock {
        /// Serve Streamable HTTP on this address (`127.0.0.1:0` picks a port);
        /// the endpoint URL is printed on the first line of stdout.
        #[arg(long, conflicts_with = "stdio", required_unless_present = "stdio")]
        http: Option<std::net::SocketAddr>,
        /// Serve over stdin and stdout.
        #[arg(long)]
        stdio: bool,
        /// Delay added before every answer, such as `200ms`.
        #[arg(long, value_parser = parse_latency, default_value = "0ms")]
        latency: Duration,
        /// Fraction of tool calls that fail with HTTP 500.
        #[arg(long, default_value_t = 0.0)]
        error_rate: f64,
        /// Answer JSON only, never SSE.
        #[arg(long)]
        json_only: bool,
        /// Also serve the conformance suite's fixture tools, resources and prompts.
        #[arg(long)]
        conformance: bool,
        /// Which protocol eras to speak: both, or one only.
        #[arg(long, value_enum, default_value = "both")]
        era: switchyard::mock::MockEra,
    },
    /// Print the SHA-256 that `[[auth]] api_keys` stores for an API key.
    /// Without KEY, the key is read from the first line of standard input,
    /// which keeps it out of the shell's history.
    HashKey {
        /// The key; omit it to read it from standard input.
        key: Option<String>,
    },
    /// Load-test an MCP endpoint (the gateway, or any MCP server).
    Bench(switchyard::bench::BenchArgs),
}

fn hash_key(key: Option<String>) -> anyhow::Result<()> {
    let key = match key {
        Some(k) => k,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    anyhow::ensure!(!key.is_empty(), "the key is empty");
    println!("{}", switchyard::auth::hash_key(&key));
    Ok(())
}

fn parse_latency(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The mock on stdio must keep stdout for protocol messages; logs always go
    // to stderr.
    logs::init(cli.log_format, cli.log.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Run { config: cli.config }) {
            Command::Run { config } => run(config).await,
            Command::Check { config } => return Ok(check(&config)),
            Command::Mock { http, latency, error_rate, json_only, conformance, era, .. } => {
                let error_rate = error_rate.clamp(0.0, 1.0);
                let opts = MockOptions { latency, error_rate, json_only, conformance, era, ..Default::default() };
                run_mock(http, opts).await
            }
            Command::HashKey { key } => hash_key(key),
            Command::Bench(args) => switchyard::bench::main(args).await,
        }
        .map(|()| ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            print!("{}", config.to_redacted_toml());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: Option<PathBuf>) -> anyhow::Result<()> {
    let default_file = Path::new("switchyard.toml");
    let (config, source) = match path {
        Some(p) => (Config::load(&p)?, Some(p)),
        None if default_file.exists() => {
            tracing::info!("using ./switchyard.toml");
            (Config::load(default_file)?, Some(default_file.to_path_buf()))
        }
        None => (demo_config().await?, None),
    };
    let listener = tokio::net::TcpListener::bind(config.gateway.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.gateway.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if config.gateway.tls.is_some() { "https" } else { "http" };
    for route in &config.routes {
        let sides: Vec<String> = route.sides().iter().map(|(b, w)| format!("{b} ({w})")).collect();
        tracing::info!(
            "serving MCP at {scheme}://{addr}{} -> {} (route `{}`)",
            route.path.get_ref().as_str(),
            sides.join(", "),
            route.name()
        );
    }
    switchyard::run_from(config, source, listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Starts the built-in mock on an ephemeral loopback port and returns the
/// embedded default config pointing at it.
async fn demo_config() -> anyhow::Result<Config> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(mock::serve_http(listener, MockOptions::default(), std::future::pending()));
    tracing::warn!(
        "no --config and no ./switchyard.toml: using the embedded default config, \
         which fronts the built-in demo MCP server at {url}"
    );
    let lookup = |var: &str| if var == "SWITCHYARD_DEMO_URL" { Some(url.clone()) } else { std::env::var(var).ok() };
    Ok(Config::parse(config::DEFAULT_TOML, "embedded default config", &lookup)?)
}

async fn run_mock(http: Option<std::net::SocketAddr>, opts: MockOptions) -> anyhow::Result<()> {
    match http {
        Some(addr) => {
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
            // Scripts read this line to learn the port when they asked for :0.
            println!("http://{}/mcp", listener.local_addr()?);
            mock::serve_http(listener, opts, shutdown_signal()).await?;
        }
        None => mock::serve_stdio(opts).await?,
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}
