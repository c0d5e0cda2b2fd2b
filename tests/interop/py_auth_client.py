"""Interop check of a route with `auth`, with the official Python SDK.

Without a credential the gateway answers 401 with a `resource_metadata`
challenge whose document is checked, and the SDK client does not get in;
with `Authorization: Bearer KEY` it lists tools and calls `echo`.

usage: python py_auth_client.py URL KEY
"""

import json
import os
import re
import sys
import urllib.error
import urllib.request

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def fail(url: str, msg: str) -> None:
    raise SystemExit(f"py-auth-client FAIL ({url}): {msg}")


def check_refusal(url: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "py-auth", "version": "1"}}})
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "content-type": "application/json", "accept": "application/json, text/event-stream"})
    try:
        urllib.request.urlopen(req, timeout=10)
        fail(url, "without a credential the gateway answered 2xx")
    except urllib.error.HTTPError as e:
        if e.code != 401:
            fail(url, f"without a credential: HTTP {e.code}, not 401")
        challenge = e.headers.get("www-authenticate", "")
    m = re.search(r'resource_metadata="([^"]+)"', challenge)
    if not m:
        fail(url, f"no resource_metadata in WWW-Authenticate: {challenge}")
    with urllib.request.urlopen(m.group(1), timeout=10) as resp:
        doc = json.load(resp)
    if doc.get("resource") != url or not doc.get("authorization_servers"):
        fail(url, f"bad metadata document: {doc}")
    print(f"py-auth-client: 401 without a credential; metadata: {doc}")


async def connect(url: str, headers: dict) -> tuple[int, str]:
    payload = f"interop-py-auth-{os.getpid()}"
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30)) as http_client:
        async with Client(streamable_http_client(url, http_client=http_client)) as client:
            tools = (await client.list_tools()).tools
            result = await client.call_tool("echo", {"text": payload})
            texts = " ".join(c.text for c in result.content if getattr(c, "type", None) == "text")
            if payload not in texts:
                fail(url, f"echo lacks {payload}: {result}")
            return len(tools), texts


async def main(url: str, key: str) -> None:
    check_refusal(url)
    with anyio.fail_after(30):
        try:
            await connect(url, {})
            fail(url, "the SDK client got in without a credential")
        except SystemExit:
            raise
        except BaseException as e:  # the SDK raises an exception group
            print(f"py-auth-client: SDK without a credential refused: {type(e).__name__}")
        n, texts = await connect(url, {"Authorization": f"Bearer {key}"})
    print(f"py-auth-client: with the bearer token: {n} tools, echo -> {texts!r}")
    print("py-auth-client OK")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: python py_auth_client.py URL KEY")
    anyio.run(main, sys.argv[1], sys.argv[2])
