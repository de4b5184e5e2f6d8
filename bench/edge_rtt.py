"""What the entry point adds to a WebSocket frame's round trip, measured so that the machine's load
hits both paths alike: one connection straight to the socket service and one through Envoy, pinged
in turn (`ping` → `pong`, answered by the socket service without Kafka or Redis) at a steady total
rate; the round-trip times of each path, and the difference of their percentiles.

The socket service allows 100 frames/s per connection: the pings are spread over `--connections`
connections per path (6 by default: 83 pings/s each at 1000/s).

Runs against the dev stack (`make dev`: svc-auth, svc-socket and envoy up); registers a throwaway
user through the entry point for a token.

    .venv/bin/python bench/edge_rtt.py [--rate 1000] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import httpx
from parley.devstack import ports
from websockets.asyncio.client import ClientConnection, connect

PASSWORD = "correct horse battery"  # noqa: S105 - a throwaway bench account


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def token(origin: str) -> str:
    name = f"rtt{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=origin, timeout=10) as client:
        body = {"username": name, "email": f"{name}@example.org", "password": PASSWORD}
        (await client.post("/auth/register", json=body)).raise_for_status()
        login = await client.post("/auth/login", json={"login": name, "password": PASSWORD})
        login.raise_for_status()
        return str(login.json()["access_token"])


async def open_ws(url: str, access_token: str) -> ClientConnection:
    ws = await connect(url, subprotocols=["parley.v1", f"parley.token.{access_token}"], compression=None)  # type: ignore[list-item]
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello", hello
    return ws


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="pings per second, both paths together")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=6, help="per path")
    args = parser.parse_args()
    origin = f"http://{ports.HOST}:{ports.ENVOY}"
    access = await token(origin)
    urls = {
        "direct": f"ws://{ports.HOST}:{ports.SERVICES['socket']}/ws",
        "envoy": f"ws://{ports.HOST}:{ports.ENVOY}/ws",
    }
    conns = [
        (name, await open_ws(url, access)) for _ in range(args.connections) for name, url in urls.items()
    ]
    sent: dict[str, int] = {}
    rtts: dict[str, list[float]] = {name: [] for name in urls}

    async def read(name: str, ws: ClientConnection) -> None:
        async for raw in ws:
            frame: dict[str, Any] = json.loads(raw)
            if frame.get("type") == "pong" and frame.get("ref") in sent:
                rtts[name].append((time.monotonic_ns() - sent.pop(frame["ref"])) / 1e6)

    readers = [asyncio.create_task(read(name, ws)) for name, ws in conns]
    interval = 1.0 / args.rate
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < args.seconds:
        name, ws = conns[n % len(conns)]  # direct and envoy in turn
        ref = f"{name}-{n}"
        sent[ref] = time.monotonic_ns()
        await ws.send(json.dumps({"type": "ping", "ref": ref}))
        n += 1
        delay = start + n * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    await asyncio.sleep(2)
    for task in readers:
        task.cancel()
    for _, ws in conns:
        await ws.close()
    achieved = n / (time.monotonic() - start - 2)
    result: dict[str, Any] = {"pings": n, "rate_achieved": round(achieved), "lost": len(sent)}
    for name, values in rtts.items():
        result[name] = {
            "count": len(values),
            "p50_ms": round(statistics.median(values), 3),
            "p99_ms": round(percentile(values, 0.99), 3),
            "max_ms": round(max(values), 3),
        }
    result["added_p50_ms"] = round(result["envoy"]["p50_ms"] - result["direct"]["p50_ms"], 3)
    result["added_p99_ms"] = round(result["envoy"]["p99_ms"] - result["direct"]["p99_ms"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
