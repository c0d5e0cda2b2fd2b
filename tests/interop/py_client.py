"""Interop check with the official Python SDK (`mcp` package).

Connects over Streamable HTTP, lists tools, calls `echo` and verifies the text.

usage: python py_client.py URL [ARG_NAME] [MODE]
  ARG_NAME is the echo tool's argument name: "message" for server-everything
  (default), "text" for `switchyard mock`.
  MODE: "auto" (default: the SDK probes server/discover first) or "legacy"
  (initialize handshake, session era).
"""

import os
import sys
import time

import anyio
from mcp import Client


async def main(url: str, arg_name: str, mode: str) -> None:
    payload = f"interop-py-{os.getpid()}-{int(time.time() * 1000)}"
    with anyio.fail_after(30):
        async with Client(url, mode=mode) as client:
            session = client.session
            print(f"py-client: connected, protocol={getattr(session, 'protocol_version', '?')}")
            tools = (await client.list_tools()).tools
            names = [t.name for t in tools]
            print(f"py-client: {len(names)} tools: {', '.join(names)}")
            if "echo" not in names:
                raise SystemExit(f"py-client FAIL ({url}): no echo tool in tools/list: {names}")
            result = await client.call_tool("echo", {arg_name: payload})
            if result.is_error:
                raise SystemExit(f"py-client FAIL ({url}): echo returned isError: {result}")
            texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
            if not any(payload in t for t in texts):
                raise SystemExit(f"py-client FAIL ({url}): echo result lacks {payload}: {result}")
            print(f"py-client: echo -> {' '.join(texts)!r}")
    print("py-client OK")


def leaves(exc: BaseException):
    """Flatten (nested) exception groups into their leaf exceptions."""
    if isinstance(exc, BaseExceptionGroup):
        for e in exc.exceptions:
            yield from leaves(e)
    else:
        yield exc


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: python py_client.py URL [ARG_NAME] [MODE]")
    url = sys.argv[1]
    try:
        arg = sys.argv[2] if len(sys.argv) > 2 else "message"
        anyio.run(main, url, arg, sys.argv[3] if len(sys.argv) > 3 else "auto")
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - report every failure compactly
        for leaf in leaves(exc):
            if isinstance(leaf, SystemExit):
                print(leaf.code, file=sys.stderr)
            else:
                print(f"py-client FAIL ({url}): {type(leaf).__name__}: {leaf}", file=sys.stderr)
        sys.exit(1)
