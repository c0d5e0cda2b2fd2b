// Interop check with the official TypeScript SDK against stdio backends
// behind Switchyard: connect over Streamable HTTP, list tools, call a tool,
// and (for server-everything) run a sampling and an elicitation round trip:
// the child asks, the gateway routes the request onto this client's
// tools/call stream, this client answers, and the answer travels back.
//
// usage: node ts_stdio_client.mjs URL KIND
//   KIND: "time"       mcp-server-time: get_current_time {timezone: "UTC"}
//         "everything" server-everything (stdio): echo, then the round trips
//         "aggregate"  an aggregated route (mock, stdio mock, time, ev): both
//                      checks above under their prefixed names, plus
//                      mock__echo and the stdio mock's unprefixed echo
//
// Every HTTP exchange is recorded; on failure it is printed to stderr, so a
// gateway problem shows as what went over the wire.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const [url, kind] = process.argv.slice(2);
if (!url || !["time", "everything", "aggregate"].includes(kind)) {
  console.error("usage: node ts_stdio_client.mjs URL time|everything|aggregate");
  process.exit(2);
}
const tag = `ts-client[${kind}]`;

// ---- the wire, as this client saw it
const wire = [];
const t0 = Date.now();
const stamp = () => `+${String(Date.now() - t0).padStart(5)}ms`;
async function loggingFetch(input, init = {}) {
  const method = init.method ?? "GET";
  const h = new Headers(init.headers ?? {});
  const shown = ["mcp-session-id", "mcp-protocol-version", "accept"]
    .filter((k) => h.has(k))
    .map((k) => `${k}: ${k === "mcp-session-id" ? h.get(k).slice(0, 12) + "…" : h.get(k)}`);
  const entry = { line: `${stamp()} ${method} ${input} [${shown.join("; ")}]`, body: init.body, resp: "" };
  wire.push(entry);
  const resp = await fetch(input, init);
  entry.line += ` -> ${resp.status} ${resp.headers.get("content-type") ?? ""}`;
  if (resp.body) {
    // Tee the body: the SDK reads one branch, the log the other, as it comes.
    const [a, b] = resp.body.tee();
    (async () => {
      const reader = b.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read().catch(() => ({ done: true }));
        if (done) break;
        entry.resp += dec.decode(value, { stream: true });
      }
    })();
    return new Response(a, { status: resp.status, statusText: resp.statusText, headers: resp.headers });
  }
  return resp;
}
function dumpWire() {
  console.error(`----- ${tag}: HTTP exchange with ${url} -----`);
  for (const e of wire) {
    console.error(e.line);
    if (e.body) console.error(`    >> ${String(e.body).slice(0, 1500)}`);
    for (const l of e.resp.split("\n").filter((l) => l.trim())) console.error(`    << ${l.slice(0, 1500)}`);
  }
  console.error(`----- end of exchange -----`);
}

function fail(msg) {
  console.error(`${tag} FAIL (${url}): ${msg}`);
  dumpWire();
  process.exit(1);
}
const deadline = setTimeout(() => fail("timed out after 45s"), 45_000);

// ---- the client, declaring and answering sampling and elicitation
const SAMPLED = `sampled-by-ts-${process.pid}`;
const ELICITED_NAME = `Elicited TS ${process.pid}`;
const asked = { sampling: [], elicitation: [] };
const client = new Client(
  { name: "switchyard-interop-ts-stdio", version: "1.0.0" },
  { capabilities: { sampling: {}, elicitation: { form: {} } } },
);
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
  asked.sampling.push(req.params);
  return { model: "interop-ts-model", role: "assistant", content: { type: "text", text: SAMPLED }, stopReason: "endTurn" };
});
client.setRequestHandler(ElicitRequestSchema, async (req) => {
  asked.elicitation.push(req.params);
  return { action: "accept", content: { name: ELICITED_NAME, check: true, integer: 7 } };
});
const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: loggingFetch });

const texts = (result) => (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

const failures = [];
async function roundTrip(label, fn) {
  const started = Date.now();
  try {
    const detail = await fn();
    console.log(`${tag}: ${label} OK (${Date.now() - started} ms)`);
    console.log(`${tag}:   ${detail}`);
  } catch (e) {
    console.log(`${tag}: ${label} FAILED (${Date.now() - started} ms): ${e?.message ?? e}`);
    failures.push(`${label}: ${e?.message ?? e}`);
  }
}

try {
  await client.connect(transport);
  const ver = client.getServerVersion();
  console.log(`${tag}: connected to ${ver?.name ?? "?"} ${ver?.version ?? ""}, protocol=${transport.protocolVersion ?? "?"}`);
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  console.log(`${tag}: ${tools.length} tools: ${names.join(", ")}`);

  // On an aggregated route every member's names carry its prefix.
  const [tp, ep] = kind === "aggregate" ? ["time__", "ev__"] : ["", ""];
  if (kind === "aggregate") {
    for (const want of ["mock__echo", "echo", "time__get_current_time", "ev__echo"]) {
      if (!names.includes(want)) fail(`no ${want} in the merged tools/list`);
    }
    for (const name of ["mock__echo", "echo"]) {
      const payload = `interop-ts-aggregate-${name}-${process.pid}`;
      const echoed = texts(await client.callTool({ name, arguments: { text: payload } }));
      if (!echoed.includes(payload)) fail(`${name} result lacks ${payload}: ${echoed}`);
      console.log(`${tag}: ${name} -> ${JSON.stringify(echoed)}`);
    }
  }
  if (kind === "time" || kind === "aggregate") {
    if (!names.includes(tp + "get_current_time")) fail(`no get_current_time in tools/list`);
    const result = await client.callTool({ name: tp + "get_current_time", arguments: { timezone: "UTC" } });
    if (result.isError) fail(`get_current_time returned isError: ${JSON.stringify(result)}`);
    const text = texts(result);
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      fail(`get_current_time did not return JSON: ${text}`);
    }
    if (parsed.timezone !== "UTC" || !/^\d{4}-\d\d-\d\dT/.test(parsed.datetime ?? "")) {
      fail(`unexpected get_current_time result: ${text}`);
    }
    console.log(`${tag}: get_current_time(UTC) -> ${parsed.datetime}`);
  }
  if (kind === "everything" || kind === "aggregate") {
    const payload = `interop-ts-stdio-${process.pid}`;
    const echoed = texts(await client.callTool({ name: ep + "echo", arguments: { message: payload } }));
    if (!echoed.includes(payload)) fail(`echo result lacks ${payload}: ${echoed}`);
    console.log(`${tag}: echo -> ${JSON.stringify(echoed)}`);

    for (const t of [ep + "trigger-sampling-request", ep + "trigger-elicitation-request"]) {
      if (!names.includes(t)) fail(`no ${t} in tools/list`);
    }
    // Both round trips run even if the first fails, so one run shows both.
    const prompt = `interop prompt ${process.pid}`;
    await roundTrip("sampling round trip (trigger-sampling-request)", async () => {
      const r = await client.callTool({ name: ep + "trigger-sampling-request", arguments: { prompt, maxTokens: 20 } });
      const out = texts(r);
      if (r.isError || !out.includes(SAMPLED)) throw new Error(`tool result (isError=${!!r.isError}): ${out}`);
      if (asked.sampling.length !== 1) throw new Error(`expected one sampling request, got ${asked.sampling.length}`);
      const askedText = asked.sampling[0].messages?.[0]?.content?.text ?? "";
      if (!askedText.includes(prompt)) throw new Error(`the sampling request lacks the prompt: ${askedText}`);
      return `asked ${JSON.stringify(askedText)}; tool saw ${JSON.stringify(SAMPLED)}`;
    });
    await roundTrip("elicitation round trip (trigger-elicitation-request)", async () => {
      const r = await client.callTool({ name: ep + "trigger-elicitation-request", arguments: {} });
      const out = texts(r);
      if (r.isError || !out.includes(ELICITED_NAME)) throw new Error(`tool result (isError=${!!r.isError}): ${out}`);
      if (asked.elicitation.length !== 1) {
        throw new Error(`expected one elicitation request, got ${asked.elicitation.length}`);
      }
      return `asked ${JSON.stringify(asked.elicitation[0].message)}; tool saw name ${JSON.stringify(ELICITED_NAME)}`;
    });
  }
  if (failures.length) fail(`round trips failed:\n  ${failures.join("\n  ")}`);

  try {
    await transport.terminateSession();
  } catch (e) {
    fail(`DELETE session failed: ${e}`);
  }
  await client.close();
} catch (e) {
  fail(e?.stack ?? String(e));
}
clearTimeout(deadline);
if (process.env.INTEROP_SHOW_WIRE === "1") dumpWire();
console.log(`${tag} OK`);
