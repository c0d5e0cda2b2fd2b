// Interop check with the official TypeScript SDK: connect over Streamable
// HTTP, list tools, call `echo`, verify the text comes back.
//
// usage: node ts_client.mjs URL [ARG_NAME]
//   ARG_NAME is the echo tool's argument name: "message" for
//   server-everything (default), "text" for `switchyard mock`.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, argName = "message"] = process.argv.slice(2);
if (!url) {
  console.error("usage: node ts_client.mjs URL [ARG_NAME]");
  process.exit(2);
}

function fail(msg) {
  console.error(`ts-client FAIL (${url}): ${msg}`);
  process.exit(1);
}

const deadline = setTimeout(() => fail("timed out after 30s"), 30_000);

const payload = `interop-ts-${process.pid}-${Date.now()}`;
const client = new Client({ name: "switchyard-interop-ts", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url));

try {
  await client.connect(transport);
  const ver = client.getServerVersion();
  console.log(`ts-client: connected to ${ver?.name ?? "?"} ${ver?.version ?? ""}, ` +
    `session=${transport.sessionId ?? "(none)"}, protocol=${transport.protocolVersion ?? "?"}`);

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  console.log(`ts-client: ${tools.length} tools: ${names.join(", ")}`);
  if (!names.includes("echo")) fail(`no echo tool in tools/list: ${names.join(", ")}`);

  const result = await client.callTool({ name: "echo", arguments: { [argName]: payload } });
  if (result.isError) fail(`echo returned isError: ${JSON.stringify(result)}`);
  const texts = (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text);
  if (!texts.some((t) => t.includes(payload))) {
    fail(`echo result does not contain ${payload}: ${JSON.stringify(result)}`);
  }
  console.log(`ts-client: echo -> ${JSON.stringify(texts.join(" "))}`);

  // Exercise session termination (DELETE) too; 405 is allowed by the spec.
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
console.log("ts-client OK");
