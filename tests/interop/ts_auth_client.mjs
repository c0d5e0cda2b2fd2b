// Interop check of a route with `auth`, with the official TypeScript SDK.
//
// Without a credential: the gateway answers 401 with
// `WWW-Authenticate: Bearer resource_metadata="…"`, the document at that URL
// is the route's protected resource metadata (RFC 9728), and the SDK client
// refuses to go on (it has no OAuth provider). With `Authorization: Bearer
// KEY`: the client connects, lists tools and calls `echo`.
//
// usage: node ts_auth_client.mjs URL KEY
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, key] = process.argv.slice(2);
if (!url || !key) {
  console.error("usage: node ts_auth_client.mjs URL KEY");
  process.exit(2);
}

function fail(msg) {
  console.error(`ts-auth-client FAIL (${url}): ${msg}`);
  process.exit(1);
}

const deadline = setTimeout(() => fail("timed out after 30s"), 30_000);

try {
  // 1. No credential: 401 and a challenge naming the metadata.
  const init = {
    jsonrpc: "2.0", id: 1, method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "ts-auth", version: "1" } },
  };
  const refused = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify(init),
  });
  if (refused.status !== 401) fail(`without a credential: HTTP ${refused.status}, not 401`);
  const challenge = refused.headers.get("www-authenticate") ?? "";
  const m = /resource_metadata="([^"]+)"/.exec(challenge);
  if (!m) fail(`no resource_metadata in WWW-Authenticate: ${challenge}`);
  const doc = await (await fetch(m[1])).json();
  if (doc.resource !== url) fail(`metadata resource ${doc.resource} is not ${url}`);
  if (!Array.isArray(doc.authorization_servers) || doc.authorization_servers.length === 0) {
    fail(`metadata lacks authorization_servers: ${JSON.stringify(doc)}`);
  }
  console.log(`ts-auth-client: 401 without a credential; metadata at ${m[1]}: ${JSON.stringify(doc)}`);

  // 2. The SDK without a credential does not get in.
  let refusedBySdk = false;
  try {
    const c = new Client({ name: "switchyard-interop-ts-auth", version: "1.0.0" });
    await c.connect(new StreamableHTTPClientTransport(new URL(url)));
    await c.close();
  } catch (e) {
    refusedBySdk = true;
    console.log(`ts-auth-client: SDK without a credential refused: ${String(e).split("\n")[0]}`);
  }
  if (!refusedBySdk) fail("the SDK client connected without a credential");

  // 3. With the bearer token: a normal session.
  const client = new Client({ name: "switchyard-interop-ts-auth", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  const { tools } = await client.listTools();
  if (!tools.some((t) => t.name === "echo")) fail(`no echo tool: ${tools.map((t) => t.name)}`);
  const payload = `interop-ts-auth-${process.pid}`;
  const result = await client.callTool({ name: "echo", arguments: { text: payload } });
  const texts = (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text);
  if (!texts.some((t) => t.includes(payload))) fail(`echo lacks ${payload}: ${JSON.stringify(result)}`);
  console.log(`ts-auth-client: with the bearer token: ${tools.length} tools, echo -> ${texts.join(" ")}`);
  await transport.terminateSession();
  await client.close();
} catch (e) {
  fail(e?.stack ?? String(e));
}
clearTimeout(deadline);
console.log("ts-auth-client OK");
