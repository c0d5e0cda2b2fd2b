#!/usr/bin/env python3
"""benches/stdio_check.py: does an MCP endpoint answer each client its own echo?

`switchyard bench` counts HTTP and JSON-RPC errors but does not read the
answers, and all its clients send the same text with the same ids. A bridge
that multiplexes clients over one stdio process can hand one client's answer
to another (cross-talk) and still return 200. This checker catches that.

N clients (threads), each with its own session (session era: initialize,
notifications/initialized, ..., DELETE) and its own keep-alive connection,
send K `tools/call echo` each, all clients using the same ids 1..K (the case
that breaks a bridge that forwards ids unchanged) and each its own text
("c<client>-<call>-<nonce>"). Clients start their calls together (a
barrier), so requests overlap. Every answer must be HTTP 2xx and hold, as JSON
or as SSE, a JSON-RPC response with the request's id whose first content text
is the text sent.

Outcomes per call: ok | http_<status> | rpc_error | wrong_id | crossed (the
text of another client's call) | wrong_text | no_answer | timeout | io_error.
Prints one JSON object (also to --json FILE). Exit status 0 when every call
was ok, 1 otherwise, 2 on bad usage. Standard library only.
"""

import argparse
import http.client
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse

PROTOCOL = "2025-06-18"
ACCEPT = "application/json, text/event-stream"
TEXT_RE = re.compile(r"^c(\d+)-(\d+)-([0-9a-f]+)$")


def messages(content_type, body):
    """The JSON-RPC messages in a JSON or SSE body."""
    text = body.decode("utf-8", "replace")
    if "text/event-stream" in (content_type or ""):
        out = []
        for event in re.split(r"\r?\n\r?\n", text):
            data = [line[5:].lstrip(" ") for line in re.split(r"\r?\n", event) if line.startswith("data:")]
            if data:
                try:
                    out.append(json.loads("\n".join(data)))
                except ValueError:
                    out.append({"unparsable": "\n".join(data)})
        return out
    if not text.strip():
        return []
    try:
        v = json.loads(text)
    except ValueError:
        return [{"unparsable": text[:200]}]
    return v if isinstance(v, list) else [v]


class Client:
    def __init__(self, url, timeout):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http":
            raise SystemExit("only http:// URLs")
        self.host, self.port = u.hostname, u.port or 80
        self.path = (u.path or "/") + (("?" + u.query) if u.query else "")
        self.timeout = timeout
        self.conn = None
        self.session = None

    def post(self, payload, method="POST"):
        """(status, content-type, body); reconnects once on a dropped keep-alive."""
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        if self.session:
            headers["Mcp-Session-Id"] = self.session
            headers["MCP-Protocol-Version"] = PROTOCOL
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, self.path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                sid = r.getheader("Mcp-Session-Id")
                if sid and not self.session:
                    self.session = sid
                return r.status, r.getheader("Content-Type", ""), data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()


def run_client(n, args, nonce, barrier, results, samples):
    c = Client(args.url, args.timeout)
    outcomes = {}
    first_bad = []

    def record(kind, detail=None):
        outcomes[kind] = outcomes.get(kind, 0) + 1
        if kind != "ok" and detail is not None and len(first_bad) < 3:
            first_bad.append(detail)

    try:
        status, ctype, body = c.post({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                       "clientInfo": {"name": "stdio-check-%d" % n, "version": "1"}},
        })
        if status // 100 != 2:
            raise RuntimeError("initialize: HTTP %d %s" % (status, body[:200]))
        c.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    except Exception as e:  # noqa: BLE001 - reported, not raised
        barrier.abort()
        results[n] = {"init_error": "%s: %s" % (type(e).__name__, e)}
        return
    try:
        barrier.wait(timeout=60)
    except threading.BrokenBarrierError:
        pass
    for i in range(1, args.calls + 1):
        want = "c%d-%d-%s" % (n, i, nonce)
        req = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"text": want}}}
        try:
            status, ctype, body = c.post(req)
        except socket.timeout:
            record("timeout", {"id": i, "sent": want})
            c.close()
            c.conn = None
            continue
        except Exception as e:  # noqa: BLE001
            record("io_error", {"id": i, "sent": want, "error": "%s: %s" % (type(e).__name__, e)})
            c.close()
            c.conn = None
            continue
        if status // 100 != 2:
            record("http_%d" % status, {"id": i, "sent": want, "body": body[:200].decode("utf-8", "replace")})
            continue
        msgs = [m for m in messages(ctype, body) if isinstance(m, dict) and ("result" in m or "error" in m)]
        if not msgs:
            record("no_answer", {"id": i, "sent": want, "body": body[:200].decode("utf-8", "replace")})
            continue
        m = msgs[0]
        if m.get("id") != i:
            record("wrong_id", {"id": i, "sent": want, "got": m})
            continue
        if "error" in m:
            record("rpc_error", {"id": i, "sent": want, "got": m})
            continue
        try:
            got = m["result"]["content"][0]["text"]
        except (KeyError, IndexError, TypeError):
            got = None
        if got == want:
            record("ok")
        elif isinstance(got, str) and TEXT_RE.match(got) and TEXT_RE.match(got).group(3) == nonce:
            record("crossed", {"id": i, "sent": want, "got": got})
        else:
            record("wrong_text", {"id": i, "sent": want, "got": m})
    try:
        c.post(None, method="DELETE")
    except Exception:  # noqa: BLE001 - a failed DELETE is not an answer error
        pass
    c.close()
    results[n] = {"outcomes": outcomes}
    if first_bad:
        samples.extend({"client": n, **b} for b in first_bad)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--calls", type=int, default=50, help="calls per client")
    p.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args()
    if args.clients < 1 or args.calls < 1:
        p.error("--clients and --calls must be at least 1")
    nonce = os.urandom(4).hex()
    barrier = threading.Barrier(args.clients)
    results, samples = {}, []
    t0 = time.monotonic()
    threads = [threading.Thread(target=run_client, args=(n, args, nonce, barrier, results, samples), daemon=True)
               for n in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes, init_errors = {}, []
    for n in sorted(results):
        r = results[n]
        if "init_error" in r:
            init_errors.append({"client": n, "error": r["init_error"]})
        for k, v in r.get("outcomes", {}).items():
            outcomes[k] = outcomes.get(k, 0) + v
    sent = args.clients * args.calls
    ok = outcomes.get("ok", 0)
    report = {
        "url": args.url, "clients": args.clients, "calls_per_client": args.calls,
        "sent": sent, "ok": ok, "bad": sent - ok, "outcomes": outcomes,
        "init_errors": init_errors, "examples": samples[:10],
        "seconds": round(time.monotonic() - t0, 3),
    }
    text = json.dumps(report)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0 if ok == sent else 1


if __name__ == "__main__":
    sys.exit(main())
