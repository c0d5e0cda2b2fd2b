//! A small MCP server on stdio built with the rmcp SDK, for tests that run it
//! behind Switchyard as a `transport = "stdio"` backend (tests/stdio_rmcp.rs).
//!
//! Tools:
//! - `echo {text}`: returns `text`;
//! - `add {a, b}`: returns `a + b`;
//! - `progress {steps, interval_ms}`: sends `steps` progress notifications on
//!   the request's progress token (when it has one), `interval_ms` apart, then
//!   returns `completed {steps} steps`;
//! - `sample {prompt, delay_ms}`: after `delay_ms` (default 0), asks the
//!   client for sampling and returns `model: text` from the client's answer.
//!   A session-era request gets a server→client `sampling/createMessage`
//!   request; a 2026-07-28 request (which forbids those) gets an
//!   `input_required` result (MRTR) and is answered when the client retries
//!   with `inputResponses`.
//!
//! By default the server speaks every version rmcp knows, 2026-07-28
//! included (so it answers `server/discover`). With `--session-era` it
//! supports only versions up to 2025-11-25, like servers built before the
//! stateless era: a client must `initialize`, and a request whose `_meta`
//! names 2026-07-28 is refused.
//!
//! stdout carries only JSON-RPC; diagnostics go to stderr.
//!
//! Run: `cargo run --example rmcp_stdio_server [-- --session-era]`.

// Sampling is deprecated by SEP-2577 in rmcp, but it is what this server tests.
#![allow(deprecated)]

use std::borrow::Cow;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, CreateMessageRequest, CreateMessageRequestParams, Implementation,
    InputRequest, InputRequests, InputRequiredResult, ProgressNotificationParam, ProtocolVersion, SamplingMessage,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// Text to return.
    text: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct AddArgs {
    a: i64,
    b: i64,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct ProgressArgs {
    /// How many progress notifications to send.
    steps: u32,
    /// Pause before each step, in milliseconds.
    #[serde(default)]
    interval_ms: u64,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct SampleArgs {
    /// The user message the client is asked to complete.
    prompt: String,
    /// Pause before asking, in milliseconds.
    #[serde(default)]
    delay_ms: u64,
}

#[derive(Debug, Clone)]
struct Server {
    tool_router: ToolRouter<Self>,
    /// Only the session-era versions (up to 2025-11-25).
    session_era: bool,
}

#[tool_router]
impl Server {
    fn new(session_era: bool) -> Self {
        Self { tool_router: Self::tool_router(), session_era }
    }

    #[tool(description = "Returns `text` unchanged")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }

    #[tool(description = "Returns a + b")]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> String {
        (a + b).to_string()
    }

    #[tool(description = "Sends `steps` progress notifications, `interval_ms` apart")]
    async fn progress(
        &self,
        Parameters(ProgressArgs { steps, interval_ms }): Parameters<ProgressArgs>,
        cx: RequestContext<RoleServer>,
    ) -> Result<String, ErrorData> {
        let token = cx.meta.get_progress_token();
        for step in 1..=steps {
            tokio::time::sleep(Duration::from_millis(interval_ms)).await;
            if let Some(token) = &token {
                let note = ProgressNotificationParam::new(token.clone(), f64::from(step))
                    .with_total(f64::from(steps))
                    .with_message(format!("step {step} of {steps}"));
                cx.peer.notify_progress(note).await.map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            }
        }
        Ok(format!("completed {steps} steps"))
    }

    #[tool(description = "Asks the client to sample a reply to `prompt` and returns `model: text`")]
    async fn sample(
        &self,
        Parameters(SampleArgs { prompt, delay_ms }): Parameters<SampleArgs>,
        tool::InputResponses(answers): tool::InputResponses,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let stateless = cx.protocol_version().is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        if stateless {
            // The 2026-07-28 era forbids server→client requests: ask through
            // the result (MRTR), and answer when the client retries with it.
            if let Some(answer) = answers.and_then(|mut a| a.remove(SAMPLE_KEY)) {
                return Ok(CallToolResult::success(vec![ContentBlock::text(sampled_text(&answer))]).into());
            }
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            let mut asks = InputRequests::new();
            asks.insert(SAMPLE_KEY.into(), InputRequest::CreateMessage(CreateMessageRequest::new(sampling(prompt))));
            return Ok(InputRequiredResult::from_input_requests(asks).into());
        }
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let reply = cx
            .peer
            .create_message(sampling(prompt))
            .await
            .map_err(|e| ErrorData::internal_error(format!("sampling failed: {e}"), None))?;
        let answer = serde_json::to_value(&reply).unwrap_or_default();
        Ok(CallToolResult::success(vec![ContentBlock::text(sampled_text(&answer))]).into())
    }
}

/// The key of the sampling request in an MRTR round.
const SAMPLE_KEY: &str = "sample";

fn sampling(prompt: String) -> CreateMessageRequestParams {
    CreateMessageRequestParams::new(vec![SamplingMessage::user_text(prompt)], 64)
}

/// `model: text` from a `CreateMessageResult` as JSON (read as JSON: the
/// content type is an open enum).
fn sampled_text(answer: &serde_json::Value) -> String {
    let model = answer["model"].as_str().unwrap_or("(no model)");
    let text = answer["content"]["text"].as_str().unwrap_or("(no text)");
    format!("{model}: {text}")
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("rmcp-stdio-server", "1.0.0"))
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        if self.session_era {
            Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
        } else {
            Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let session_era = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--session-era") => true,
        Some(other) => anyhow::bail!("unknown argument {other:?}; the only option is --session-era"),
    };
    let era = if session_era { "session era only" } else { "all versions" };
    eprintln!("rmcp-stdio-server: pid {} serving on stdio ({era})", std::process::id());
    // The same pair `rmcp::transport::stdio()` returns; that function needs
    // rmcp's `transport-io` feature, this pair only tokio's `io-std`.
    let service = Server::new(session_era).serve((tokio::io::stdin(), tokio::io::stdout())).await?;
    let reason = service.waiting().await?;
    eprintln!("rmcp-stdio-server: stopped ({reason:?})");
    Ok(())
}
