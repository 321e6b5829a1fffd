#!/usr/bin/python3
"""Opens a WebSocket with the Python `websockets` library, optionally
requesting subprotocols, sends one text message, checks the echo, closes
with 1000, and prints one JSON object (subprotocol selected, extensions).

Usage: handshake_client.py URI [PROTOCOL...]
"""
import asyncio
import json
import sys

import websockets


async def run(uri, protocols):
    async with websockets.connect(
        uri,
        subprotocols=protocols or None,
        open_timeout=10,
        close_timeout=10,
        ping_interval=None,
    ) as ws:
        out = {
            "ok": False,
            "subprotocol": ws.subprotocol,
            "extensions": ws.response_headers.get("Sec-WebSocket-Extensions"),
        }
        await asyncio.wait_for(ws.send("hello from python"), 10)
        got = await asyncio.wait_for(ws.recv(), 10)
        out["echo_ok"] = got == "hello from python"
        await asyncio.wait_for(ws.close(code=1000, reason="bye"), 10)
        out["close_code"] = ws.close_code
        out["ok"] = True
        return out


def main():
    try:
        out = asyncio.run(asyncio.wait_for(run(sys.argv[1], sys.argv[2:]), 30))
    except BaseException as e:
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
