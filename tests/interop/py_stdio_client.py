"""Interop check with the official Python SDK (`mcp`) against stdio backends
behind Switchyard.

Connects over Streamable HTTP, lists tools and calls one; for server-everything
also runs a sampling and an elicitation round trip (the child asks, the gateway
routes the request to this client, this client answers, the answer travels
back to the child).

usage: python py_stdio_client.py URL KIND [MODE]
  KIND: "time"        mcp-server-time: get_current_time {timezone: "UTC"}
        "everything"  server-everything (stdio): echo, then the round trips
        "aggregate"   an aggregated route of the mock (prefix mock), the
                      stdio mock (unprefixed), mcp-server-time (prefix time)
                      and stdio server-everything (prefix ev): both checks
                      above under their prefixed names, plus mock__echo and
                      the stdio mock's echo
  MODE: "auto" (default: the SDK probes server/discover, and through Switchyard
        speaks 2026-07-28) or "legacy" (initialize handshake, session era).

Every HTTP exchange is recorded; on failure it is printed to stderr, so a
gateway problem shows as what went over the wire.
"""

import os
import sys
import time
from typing import Any

import anyio
import httpx2
import mcp.types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

T0 = time.monotonic()
WIRE: list[dict[str, Any]] = []


class RecordingStream(httpx2.AsyncByteStream):
    """Passes a response body through, keeping a copy for the log."""

    def __init__(self, inner: Any, entry: dict[str, Any]) -> None:
        self.inner = inner
        self.entry = entry

    async def __aiter__(self):
        async for chunk in self.inner:
            self.entry["resp"] += chunk.decode("utf-8", "replace")
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Records each request and the response as it streams."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        shown = []
        for k in ("mcp-session-id", "mcp-protocol-version", "mcp-method", "accept"):
            if k in request.headers:
                v = request.headers[k]
                shown.append(f"{k}: {v[:12] + '…' if k == 'mcp-session-id' else v}")
        stamp = f"+{int((time.monotonic() - T0) * 1000):5d}ms"
        entry = {
            "line": f"{stamp} {request.method} {request.url} [{'; '.join(shown)}]",
            "body": request.content.decode("utf-8", "replace") if request.content else "",
            "resp": "",
        }
        WIRE.append(entry)
        resp = await self.inner.handle_async_request(request)
        entry["line"] += f" -> {resp.status_code} {resp.headers.get('content-type', '')}"
        resp.stream = RecordingStream(resp.stream, entry)
        return resp

    async def aclose(self) -> None:
        await self.inner.aclose()


def dump_wire(tag: str, url: str) -> None:
    print(f"----- {tag}: HTTP exchange with {url} -----", file=sys.stderr)
    for e in WIRE:
        print(e["line"], file=sys.stderr)
        if e["body"]:
            print(f"    >> {e['body'][:1500]}", file=sys.stderr)
        for line in e["resp"].splitlines():
            if line.strip():
                print(f"    << {line[:1500]}", file=sys.stderr)
    print("----- end of exchange -----", file=sys.stderr)


class Failed(Exception):
    pass


def texts(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def main(url: str, kind: str, mode: str, tag: str) -> None:
    sampled = f"sampled-by-py-{os.getpid()}"
    elicited_name = f"Elicited Py {os.getpid()}"
    asked: dict[str, list[Any]] = {"sampling": [], "elicitation": []}

    async def on_sampling(_context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked["sampling"].append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=sampled),
            model="interop-py-model",
            stop_reason="endTurn",
        )

    async def on_elicitation(_context: Any, params: Any) -> types.ElicitResult:
        asked["elicitation"].append(params)
        return types.ElicitResult(action="accept", content={"name": elicited_name, "check": True, "integer": 7})

    # The SDK's default timeouts (30 s, 300 s to read a stream), recording the wire.
    http_client = httpx2.AsyncClient(transport=RecordingTransport(), timeout=httpx2.Timeout(30, read=300))
    async with http_client:
        transport = streamable_http_client(url, http_client=http_client)
        with anyio.fail_after(45):
            async with Client(
                transport,
                mode=mode,
                sampling_callback=on_sampling,
                elicitation_callback=on_elicitation,
                client_info=types.Implementation(name="switchyard-interop-py-stdio", version="1.0.0"),
            ) as client:
                session = client.session
                version = getattr(session, "protocol_version", None) or getattr(session, "_negotiated_version", "?")
                print(f"{tag}: connected, protocol={version}")
                names = [t.name for t in (await client.list_tools()).tools]
                print(f"{tag}: {len(names)} tools: {', '.join(names)}")
                # On an aggregated route every member's names carry its prefix.
                tp, ep = ("time__", "ev__") if kind == "aggregate" else ("", "")
                if kind == "aggregate":
                    for want in ("mock__echo", "echo", "time__get_current_time", "ev__echo"):
                        if want not in names:
                            raise Failed(f"no {want} in the merged tools/list: {names}")
                    for name, argument in (("mock__echo", "text"), ("echo", "text")):
                        payload = f"interop-py-aggregate-{name}-{os.getpid()}"
                        echoed = texts(await client.call_tool(name, {argument: payload}))
                        if payload not in echoed:
                            raise Failed(f"{name} result lacks {payload}: {echoed}")
                        print(f"{tag}: {name} -> {echoed!r}")
                if kind in ("time", "aggregate"):
                    if tp + "get_current_time" not in names:
                        raise Failed(f"no get_current_time in tools/list: {names}")
                    result = await client.call_tool(tp + "get_current_time", {"timezone": "UTC"})
                    if result.is_error:
                        raise Failed(f"get_current_time returned isError: {result}")
                    text = texts(result)
                    if '"timezone": "UTC"' not in text and '"timezone":"UTC"' not in text:
                        raise Failed(f"unexpected get_current_time result: {text}")
                    print(f"{tag}: get_current_time(UTC) -> {' '.join(text.split())}")
                    if kind == "time":
                        return
                payload = f"interop-py-stdio-{os.getpid()}"
                echoed = texts(await client.call_tool(ep + "echo", {"message": payload}))
                if payload not in echoed:
                    raise Failed(f"echo result lacks {payload}: {echoed}")
                print(f"{tag}: echo -> {echoed!r}")
                for t in (ep + "trigger-sampling-request", ep + "trigger-elicitation-request"):
                    if t not in names:
                        raise Failed(f"no {t} in tools/list: {names}")

                # Both round trips run even if the first fails, so one run shows both.
                prompt = f"interop prompt {os.getpid()}"

                async def sampling() -> str:
                    result = await client.call_tool(ep + "trigger-sampling-request", {"prompt": prompt, "maxTokens": 20})
                    out = texts(result)
                    if result.is_error or sampled not in out:
                        raise Failed(f"tool result (isError={result.is_error}): {out}")
                    if len(asked["sampling"]) != 1:
                        raise Failed(f"expected one sampling request, got {len(asked['sampling'])}")
                    asked_text = getattr(asked["sampling"][0].messages[0].content, "text", "")
                    if prompt not in asked_text:
                        raise Failed(f"the sampling request lacks the prompt: {asked_text!r}")
                    return f"asked {asked_text!r}; tool saw {sampled!r}"

                async def elicitation() -> str:
                    result = await client.call_tool(ep + "trigger-elicitation-request", {})
                    out = texts(result)
                    if result.is_error or elicited_name not in out:
                        raise Failed(f"tool result (isError={result.is_error}): {out}")
                    if len(asked["elicitation"]) != 1:
                        raise Failed(f"expected one elicitation request, got {len(asked['elicitation'])}")
                    return f"asked {asked['elicitation'][0].message!r}; tool saw name {elicited_name!r}"

                failures = []
                for label, check in (
                    ("sampling round trip (trigger-sampling-request)", sampling),
                    ("elicitation round trip (trigger-elicitation-request)", elicitation),
                ):
                    started = time.monotonic()
                    try:
                        detail = await check()
                    except Failed as e:
                        took = int((time.monotonic() - started) * 1000)
                        print(f"{tag}: {label} FAILED ({took} ms): {e}")
                        failures.append(f"{label}: {e}")
                        continue
                    took = int((time.monotonic() - started) * 1000)
                    print(f"{tag}: {label} OK ({took} ms)")
                    print(f"{tag}:   {detail}")
                if failures:
                    raise Failed("round trips failed:\n  " + "\n  ".join(failures))


def leaves(exc: BaseException):
    """Flatten (nested) exception groups into their leaf exceptions."""
    if isinstance(exc, BaseExceptionGroup):
        for e in exc.exceptions:
            yield from leaves(e)
    else:
        yield exc


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] not in ("time", "everything", "aggregate"):
        raise SystemExit("usage: python py_stdio_client.py URL time|everything|aggregate [auto|legacy]")
    url, kind = sys.argv[1], sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "auto"
    tag = f"py-client[{kind},{mode}]"
    try:
        anyio.run(main, url, kind, mode, tag)
    except BaseException as exc:  # noqa: BLE001 - report every failure compactly
        for leaf in leaves(exc):
            print(f"{tag} FAIL ({url}): {type(leaf).__name__}: {leaf}", file=sys.stderr)
        dump_wire(tag, url)
        sys.exit(1)
    if os.environ.get("INTEROP_SHOW_WIRE") == "1":
        dump_wire(tag, url)
    print(f"{tag} OK")
