#!/usr/bin/python3
"""Independent client for crier's WebSocket echo (GET /echo), on the
Python `websockets` library (Debian python3-websockets, 10.x legacy API).

Usage: echo_client.py URI {deflate|none}

Runs one connection through echoes of text and binary messages from 0 bytes
to 1 MiB, a fragmented message, ping/pong, and a closing handshake, then
prints one JSON object with what it saw on stdout. Every step has its own
timeout; any failure is reported in the JSON ("error") with exit code 1.
"""
import asyncio
import hashlib
import json
import sys

import websockets

SIZES = [0, 125, 126, 65535, 65536, 1 << 20]
STEP_TIMEOUT = 20


def text_of(n):
    # ASCII so byte length == character length; varied so the echo is checked.
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[(i * 7 + i // 36) % 36] for i in range(n))


def bytes_of(n):
    return bytes((i * 31 + (i >> 8)) & 0xFF for i in range(n))


def digest(x):
    if isinstance(x, str):
        x = x.encode("utf-8")
    return hashlib.sha256(x).hexdigest()[:16]


async def step(coro):
    return await asyncio.wait_for(coro, STEP_TIMEOUT)


async def fragments(parts):
    for p in parts:
        yield p


async def run(uri, compression):
    out = {"version": websockets.__version__, "echoes": [], "ok": False}
    async with websockets.connect(
        uri,
        compression=("deflate" if compression == "deflate" else None),
        max_size=None,
        open_timeout=10,
        close_timeout=10,
        ping_interval=None,
    ) as ws:
        out["subprotocol"] = ws.subprotocol
        out["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions")
        for size in SIZES:
            for kind in ("text", "binary"):
                msg = text_of(size) if kind == "text" else bytes_of(size)
                await step(ws.send(msg))
                got = await step(ws.recv())
                out["echoes"].append(
                    {
                        "kind": kind,
                        "size": size,
                        "type_ok": isinstance(got, str) == (kind == "text"),
                        "equal": got == msg,
                        "got_len": len(got),
                    }
                )
        # Fragmented messages: an iterable (text) and an async iterable (binary).
        parts = ["héllo ", "wörld ", "🦀 ", "末尾"]
        await step(ws.send(parts))
        got = await step(ws.recv())
        out["fragmented_text"] = {"equal": got == "".join(parts), "got": got}
        bparts = [bytes_of(1000), b"", bytes_of(70000), b"\x00\xff"]
        await step(ws.send(fragments(bparts)))
        got = await step(ws.recv())
        out["fragmented_binary"] = {
            "equal": got == b"".join(bparts),
            "is_bytes": isinstance(got, bytes),
            "got_len": len(got),
        }
        # Ping with a payload: the pong must carry the same bytes, and the
        # library resolves the waiter only for a matching pong.
        waiter = await step(ws.ping(b"py-ping-123"))
        await step(waiter)
        out["pong"] = True
        await step(ws.close(code=1000, reason="py bye"))
        out["close_code"] = ws.close_code
        out["close_reason"] = ws.close_reason
    out["ok"] = True
    return out


def main():
    uri, compression = sys.argv[1], sys.argv[2]
    try:
        out = asyncio.run(asyncio.wait_for(run(uri, compression), 90))
    except BaseException as e:  # report everything, including timeouts
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
