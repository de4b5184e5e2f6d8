"""The message path end to end on this machine: latency, throughput, idle connections.

Everything runs here, on loopback: the dev stack's PostgreSQL, Redis and Kafka (started if
needed), a consumer and socket processes (`python -m parley serve ...`, on a fresh migrated
database, a Redis key prefix and Kafka topics of the run's own, all removed afterwards), and the
WebSocket clients, in worker processes of their own. Tokens are real RS256 JWTs checked by the
socket against a JWKS served over HTTP.

Phases:
1. latency: chats of several members, messages at a steady rate (open loop); the time from a
   client's send to the receipt of the message by each other member (send time in the body,
   CLOCK_MONOTONIC is one clock for every process): p50/p95/p99.
2. throughput: two-member chats at rising offered rates; stored messages/s over the steady
   window (the consumer's counters), and the latency at that load.
3. consumer alone: a backlog of commands written to Kafka directly, then the time the consumer
   takes to store it (what the storing side can do without the socket and clients).
4. idle connections: a fresh socket process, as many authenticated connections as it can be given,
   and its resident memory before and after.

    .venv/bin/python bench/pipeline.py [--rate 1000] [--seconds 15] [--rates 2000,4000,6000]
                                       [--idle 19900] [--workers 2] [--skip idle]
                                       [--client lean|full|go] [--profile DIR]

Every load phase and the consumer-alone phase print the CPU time per stored message of each process
(socket, consumer, Kafka broker, PostgreSQL; microseconds, from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from parley.api.membership import create_group
from parley.common.db import async_url
from parley.common.events import SendMessage, encode
from parley.common.kafka import KafkaProducer, ensure_topics
from parley.common.topics import Topics, chat_key
from parley.common.users.directory import username_key
from parley.devstack.stack import Stack
from parley.migrations import runner
from parley.testing.envoy import EnvoyProcess
from parley.testing.jwks import JwksServer
from parley.testing.processes import ServiceProcess
from parley.testing.prometheus import PrometheusProcess
from parley.testing.slices import delete_prefix, delete_topics, fresh_database
from parley.testing.tokens import ISSUER, Signer
from parley_operator.edge import EdgePolicy, Upstream
from parley_operator.edge.routes import BACKENDS
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "observability"))
import snapshots

# --- client workers (each in a process of its own) ---------------------------------------------


@dataclass
class Conn:
    token: str
    user_id: str
    send_to: str | None  # the chat this connection sends to, if it sends


def _percentiles(samples: list[int]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0

    return {"n": len(ordered), "p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1] / 1000.0}


async def _worker(spec: dict[str, Any], results: mp.Queue[Any], go: Any, stop: Any) -> None:
    conns = [Conn(**c) for c in spec["conns"]]
    url: str = spec["url"]
    measuring = False
    latencies: list[int] = []
    acks: list[int] = []
    sent_at: dict[str, int] = {}
    counts = {"sent": 0, "accepted": 0, "received": 0, "errors": 0, "connected": 0, "failed": 0}
    error_codes: dict[str, int] = {}
    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []

    async def read_lean(ws: Any, me: str) -> None:
        """The lean client: no JSON parsing, the few fields it needs found by position."""
        with contextlib.suppress(Exception):
            async for raw in ws:
                if '"message.created"' in raw:
                    at = raw.find('"sender_id":"') + 13
                    if raw[at : at + 36] != me:
                        counts["received"] += 1
                        if measuring:
                            at = raw.find('"body":"') + 8
                            body = raw[at : raw.find('"', at)]
                            latencies.append((time.monotonic_ns() - int(body)) // 1000)
                elif raw.startswith('{"type":"accepted"'):
                    counts["accepted"] += 1
                    at = raw.find('"client_id":"') + 13
                    started = sent_at.pop(raw[at : raw.find('"', at)], None)
                    if started is not None and measuring:
                        acks.append((time.monotonic_ns() - started) // 1000)
                elif raw.startswith('{"type":"error"'):
                    counts["errors"] += 1
                    code = json.loads(raw)["code"]
                    error_codes[code] = error_codes.get(code, 0) + 1

    async def read(ws: Any, me: str) -> None:
        nonlocal measuring
        with contextlib.suppress(Exception):
            async for raw in ws:
                if '"message.created"' in raw:
                    frame = json.loads(raw)
                    message = frame["event"]["message"]
                    if message["sender_id"] != me:
                        counts["received"] += 1
                        if measuring:
                            latencies.append((time.monotonic_ns() - int(message["body"])) // 1000)
                elif raw.startswith('{"type":"accepted"'):
                    counts["accepted"] += 1
                    started = sent_at.pop(json.loads(raw)["client_id"], None)
                    if started is not None and measuring:
                        acks.append((time.monotonic_ns() - started) // 1000)
                elif raw.startswith('{"type":"error"'):
                    counts["errors"] += 1
                    code = json.loads(raw)["code"]
                    error_codes[code] = error_codes.get(code, 0) + 1

    limit = asyncio.Semaphore(spec.get("connect_concurrency", 100))

    async def open_one(conn: Conn) -> None:
        async with limit:
            try:
                # Through the entry point the token must come with the handshake (its JWT gate).
                protocols = ["parley.v1", f"parley.token.{conn.token}"] if spec.get("edge") else ["parley.v1"]
                ws = await connect(
                    url,
                    subprotocols=protocols,  # type: ignore[arg-type]
                    compression=None,
                    ping_interval=None,
                    open_timeout=60,
                )
                if not spec.get("edge"):
                    await ws.send(json.dumps({"type": "auth", "token": conn.token}))
                hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if hello.get("type") != "hello":
                    raise RuntimeError(hello)
            except Exception as exc:
                counts["failed"] += 1
                if counts["failed"] <= 3:
                    print(f"  connect failed: {exc!r}", flush=True)
                return
            counts["connected"] += 1
            sockets.append((ws, conn))
            if spec["mode"] == "load":
                reader = read_lean if spec.get("client") == "lean" else read
                readers.append(asyncio.create_task(reader(ws, conn.user_id)))

    await asyncio.gather(*(open_one(c) for c in conns))
    results.put(("ready", counts["connected"], counts["failed"]))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, go.wait)

    if spec["mode"] == "load":
        senders = [(ws, conn.send_to) for ws, conn in sockets if conn.send_to]
        rate: float = spec["rate"]
        seconds: float = spec["seconds"]
        warmup: float = spec["warmup"]
        lean = spec.get("client") == "lean"
        prefixes = [f'{{"type":"send","chat_id":"{chat}","client_id":"' for _, chat in senders]
        tag = uuid.uuid4().hex[:8]
        start = time.monotonic()
        due = 0
        index = 0
        while True:
            elapsed = time.monotonic() - start
            if elapsed >= warmup + seconds:
                break
            measuring = elapsed >= warmup
            target = int(elapsed * rate)
            while due < target and senders:
                ws, chat = senders[index % len(senders)]
                now = time.monotonic_ns()
                if lean:  # a counter for client ids, the frame from a prepared prefix
                    client_id = f"{tag}{index}"
                    frame = f'{prefixes[index % len(senders)]}{client_id}","body":"{now}"}}'
                else:
                    client_id = uuid.uuid4().hex
                    frame = f'{{"type":"send","chat_id":"{chat}","client_id":"{client_id}","body":"{now}"}}'
                index += 1
                due += 1
                sent_at[client_id] = now
                with contextlib.suppress(Exception):
                    await ws.send(frame)
                    counts["sent"] += 1
            await asyncio.sleep(0.002)
        # Let what is in flight arrive (not counted in the latency window any more).
        await asyncio.sleep(spec.get("drain", 3.0))
        measuring = False
    else:
        await loop.run_in_executor(None, stop.wait)

    results.put(("done", counts, error_codes, latencies, acks))
    for ws, _ in sockets:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 2)
    for task in readers:
        task.cancel()


def worker_main(spec: dict[str, Any], results: mp.Queue[Any], go: Any, stop: Any) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.run(_worker(spec, results, go, stop))
    except ImportError:
        asyncio.run(_worker(spec, results, go, stop))


class Workers:
    """Client worker processes for one phase: connect, go together, collect."""

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        ctx = mp.get_context("spawn")
        self.results: mp.Queue[Any] = ctx.Queue()
        self.go = ctx.Event()
        self.stop = ctx.Event()
        self.procs = [
            ctx.Process(target=worker_main, args=(spec, self.results, self.go, self.stop), daemon=True)
            for spec in specs
        ]

    def __enter__(self) -> Workers:
        for proc in self.procs:
            proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.go.set()
        for proc in self.procs:
            proc.join(timeout=15)
            if proc.is_alive():
                proc.kill()

    def ready(self, timeout: float = 600) -> tuple[int, int]:
        connected = failed = 0
        for _ in self.procs:
            _, ok, bad = self.results.get(timeout=timeout)
            connected, failed = connected + ok, failed + bad
        return connected, failed

    def collect(self, timeout: float = 120) -> tuple[dict[str, int], dict[str, int], list[int], list[int]]:
        counts: dict[str, int] = {}
        codes: dict[str, int] = {}
        latencies: list[int] = []
        acks: list[int] = []
        for _ in self.procs:
            kind, c, e, lat, ack = self.results.get(timeout=timeout)
            assert kind == "done"
            acks.extend(ack)
            for key, value in c.items():
                counts[key] = counts.get(key, 0) + value
            for key, value in e.items():
                codes[key] = codes.get(key, 0) + value
            latencies.extend(lat)
        return counts, codes, latencies, acks


GO_CLIENT = Path(__file__).resolve().parent / "goclient"


def build_go_client() -> Path:
    """bench/goclient built into the cache (again whenever its source changes): one static
    binary, its module fetched from the Go module proxy (parley.devstack.golang's caches)."""
    from parley.devstack.golang import go_binary, go_env
    from parley.devstack.paths import Paths

    paths = Paths.from_env()
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in sorted(GO_CLIENT.glob("*")))).hexdigest()[:12]
    binary = paths.builds / "bin" / f"bench-goclient-{digest}" / "goclient"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [go_binary(), "build", "-trimpath", "-o", str(binary), "."],
            cwd=GO_CLIENT,
            env={**os.environ, **go_env(paths)},
            check=True,
        )
    return binary


class GoWorkers:
    """The compiled client (bench/goclient) in the place of Workers: one process holds every
    connection of the phase (so sends and receipts are on one clock), driven over its stdin and
    stdout. Its CPU is metered like the Python workers'."""

    def __init__(self, specs: list[dict[str, Any]], binary: Path) -> None:
        spec = {
            "conns": [{**conn, "url": part["url"]} for part in specs for conn in part["conns"]],
            "edge": specs[0]["edge"],
            "rate": sum(part["rate"] for part in specs),
            "seconds": specs[0]["seconds"],
            "warmup": specs[0]["warmup"],
            "drain": 3.0,
        }
        self._spec = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
        json.dump(spec, self._spec)
        self._spec.close()
        self.proc = subprocess.Popen(
            [str(binary), self._spec.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.procs = [self.proc]
        self.go = self  # `pool.go.set()` as with Workers

    def __enter__(self) -> GoWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        Path(self._spec.name).unlink()

    def _line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the Go client exited ({self.proc.wait()})")
        return dict(json.loads(line))

    def ready(self) -> tuple[int, int]:
        ready = self._line()
        return int(ready["connected"]), int(ready["failed"])

    def set(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def collect(self) -> tuple[dict[str, int], dict[str, int], list[int], list[int]]:
        done = self._line()
        return done["counts"], done["errors"] or {}, done["latencies"] or [], done["acks"] or []


def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    return [list(items[i::parts]) for i in range(parts)]


# --- the platform under test ---------------------------------------------------------------------

_INSERT_USER = sa.text(
    "INSERT INTO auth_users (id, username, username_key, email, email_key, password_hash, disabled,"
    " created_at, password_changed_at) VALUES (:id, :username, :key, :email, :email, 'bench', false,"
    " now(), now())"
)


class Platform:
    def __init__(self, dsn: str, endpoints: dict[str, dict[str, str]], log_dir: Path, jwks_url: str) -> None:
        self.dsn = dsn
        self.redis_url = endpoints["redis"]["url"]
        self.bootstrap = endpoints["kafka"]["bootstrap"]
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}"
        self.redis_prefix = f"{self.prefix}:"
        self.topics = Topics(self.prefix)
        self.log_dir = log_dir
        self.signer = Signer("bench-key")
        self.env = {
            "PARLEY_POSTGRES_DSN": dsn,
            "PARLEY_REDIS_URL": self.redis_url,
            "PARLEY_REDIS_KEY_PREFIX": self.redis_prefix,
            "PARLEY_KAFKA_BOOTSTRAP": self.bootstrap,
            "PARLEY_KAFKA_TOPIC_PREFIX": self.prefix,
            "PARLEY_AUTH_ISSUER": ISSUER,
            "PARLEY_AUTH_JWKS_URL": jwks_url,
            "PARLEY_CONSUMER_INSTANCE_ID": "bench-0",
            # The bench's users send faster than a person would.
            "PARLEY_SOCKET_COMMANDS_PER_SECOND": "1000",
            "PARLEY_SOCKET_COMMANDS_BURST": "2000",
            "PARLEY_SOCKET_FRAMES_PER_SECOND": "1000",
        }
        self.procs: list[ServiceProcess] = []
        self.engine: AsyncEngine = create_async_engine(async_url(dsn), pool_size=4)

    def start(self, service: str, **env: str) -> ServiceProcess:
        proc = ServiceProcess(service, {**self.env, **env}, self.log_dir)
        self.procs.append(proc)
        return proc.start(wait=90)

    async def topics_up(self, partitions: int) -> None:
        await ensure_topics(self.bootstrap, [self.topics.commands], partitions=partitions)
        await ensure_topics(self.bootstrap, [t for t in self.topics.all() if t != self.topics.commands])

    async def users(self, count: int) -> list[tuple[uuid.UUID, str]]:
        rows = []
        for _ in range(count):
            name = f"b{uuid.uuid4().hex[:12]}"
            rows.append(
                {"id": uuid.uuid4(), "username": name, "key": username_key(name), "email": f"{name}@b.test"}
            )
        async with self.engine.begin() as conn:
            for start in range(0, len(rows), 1000):
                await conn.execute(_INSERT_USER, rows[start : start + 1000])
        return [(row["id"], self.signer.token(row["id"], row["username"], ttl=7200)) for row in rows]

    async def chat(self, members: Sequence[uuid.UUID]) -> str:
        async with self.engine.connect() as conn:
            chat_id, _ = await create_group(conn, members[0], "bench", list(members[1:]), max_members=10_000)
        return str(chat_id)

    async def close(self) -> None:
        for proc in self.procs:
            proc.stop()
        await self.engine.dispose()
        try:
            await delete_topics(self.bootstrap, f"{self.prefix}.")
        except Exception as exc:
            print(f"(topics not deleted: {exc!r})")
        await delete_prefix(self.redis_url, self.redis_prefix)


async def consumer_status(consumer: ServiceProcess) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        result: dict[str, Any] = (await http.get(f"{consumer.url}/status", timeout=10)).json()
    return result


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU time per part of the system over a window, from /proc (clock ticks of each process)."""

    def __init__(self, parts: dict[str, Callable[[], list[int]]]) -> None:
        self.parts = parts
        self.hz = os.sysconf("SC_CLK_TCK")

    def snapshot(self) -> tuple[float, dict[str, dict[int, int]], list[int]]:
        """Ticks per process of each part, looked up now (PostgreSQL starts backends on demand)."""
        machine = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (
            time.monotonic(),
            {k: {p: _ticks(p) for p in pids()} for k, pids in self.parts.items()},
            machine,
        )

    def usage(
        self,
        start: tuple[float, dict[str, dict[int, int]], list[int]],
        end: tuple[float, dict[str, dict[int, int]], list[int]],
    ) -> dict[str, str]:
        seconds = end[0] - start[0]
        out = {}
        for part in self.parts:
            before, after = start[1][part], end[1][part]
            ticks = sum(t - before.get(pid, 0) for pid, t in after.items())
            out[part] = f"{ticks / self.hz / seconds * 100:.0f}%"
        total = [b - a for a, b in zip(start[2], end[2], strict=True)]
        idle = total[3] + total[4]
        out["machine busy (of 200%)"] = f"{(sum(total) - idle) / max(sum(total), 1) * 200:.0f}%"
        return out

    def per_message(
        self,
        start: tuple[float, dict[str, dict[int, int]], list[int]],
        end: tuple[float, dict[str, dict[int, int]], list[int]],
        messages: int,
    ) -> dict[str, float]:
        """CPU microseconds per stored message of each part over the window."""
        out = {}
        for part in self.parts:
            before, after = start[1][part], end[1][part]
            ticks = sum(t - before.get(pid, 0) for pid, t in after.items())
            out[part] = round(ticks / self.hz * 1e6 / max(messages, 1), 1)
        return out


class Profiler:
    """py-spy recording some processes (`--profile DIR`): raw collapsed stacks per process, and the
    functions that took the most samples (self time, the innermost frame) printed at the end."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.running: list[tuple[str, Path, Any]] = []

    def start(self, name: str, pid: int) -> None:
        if self.directory is None:
            return
        import subprocess

        self.directory.mkdir(parents=True, exist_ok=True)
        out = self.directory / f"{name}.txt"
        spy = str(Path(sys.executable).parent / "py-spy")
        proc = subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--rate", "200", "--nonblocking", "--format", "raw",
             "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.running.append((name, out, proc))

    def stop(self, top: int = 12) -> dict[str, list[str]]:
        import signal

        result: dict[str, list[str]] = {}
        for name, out, proc in self.running:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(Exception):
                proc.wait(timeout=30)
            result[name] = top_frames(out, top)
        self.running = []
        return result


def top_frames(path: Path, top: int) -> list[str]:
    """The innermost frames with the most samples in a py-spy raw (collapsed) file."""
    counts: dict[str, int] = {}
    total = 0
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            # The innermost frame, by function (py-spy names a frame "function (file:line)").
            frame = stack.rsplit(";", 1)[-1].rsplit(":", 1)[0] + ")" if stack else "(no Python frame)"
            counts[frame] = counts.get(frame, 0) + int(n)
            total += int(n)
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    return [f"{n / max(total, 1) * 100:5.1f}%  {frame}" for frame, n in ranked]


def cpu_parts(
    consumer: ServiceProcess, sockets: list[ServiceProcess], workers: list[int]
) -> dict[str, Callable[[], list[int]]]:
    kafka = Stack().component("kafka").pid()
    return {
        "socket": lambda: [s.pid for s in sockets],
        "consumer": lambda: [consumer.pid],
        "clients": lambda: workers,
        "kafka (shared with other users of the dev stack)": lambda: [kafka] if kafka else [],
        "postgres": lambda: _pids_named("postgres"),
        "redis": lambda: _pids_named("redis-server"),
    }


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# --- phases ----------------------------------------------------------------------------------------


async def load_phase(
    platform: Platform,
    sockets: list[ServiceProcess],
    consumer: ServiceProcess,
    *,
    chats: int,
    members: int,
    rate: float,
    seconds: float,
    workers: int,
    warmup: float = 2.0,
    edge_url: str | None = None,
    client: str = "lean",
    profiler: Profiler | None = None,
) -> dict[str, Any]:
    people = await platform.users(chats * members)
    conns: list[dict[str, Any]] = []
    for c in range(chats):
        group = people[c * members : (c + 1) * members]
        chat_id = await platform.chat([user_id for user_id, _ in group])
        for n, (user_id, token) in enumerate(group):
            # Every member sends except one per chat, who only receives.
            conns.append({"token": token, "user_id": str(user_id), "send_to": chat_id if n else None})
    parts = split(conns, workers)
    senders = sum(1 for conn in conns if conn["send_to"])
    specs = [
        {
            "url": edge_url or sockets[i % len(sockets)].ws_url,
            "edge": edge_url is not None,
            "conns": part,
            "mode": "load",
            # Each worker's share of the rate follows its share of the senders (with two-member
            # chats, an interleaved split can leave a worker nothing but receivers).
            "rate": rate * sum(1 for conn in part if conn["send_to"]) / senders,
            "seconds": seconds,
            "warmup": warmup,
            "client": client,
        }
        for i, part in enumerate(parts)
    ]
    pool: Workers | GoWorkers = GoWorkers(specs, build_go_client()) if client == "go" else Workers(specs)
    with pool:
        connected, failed = pool.ready()
        meter = CpuMeter(cpu_parts(consumer, sockets, [p.pid for p in pool.procs if p.pid]))
        before = (await consumer_status(consumer))["stored"]
        pool.go.set()
        await asyncio.sleep(warmup)
        window_start, stored_start = time.monotonic(), (await consumer_status(consumer))["stored"]
        cpu_start = meter.snapshot()
        if profiler is not None:
            profiler.start("consumer", consumer.pid)
            for n, socket in enumerate(sockets):
                profiler.start(f"socket-{n}", socket.pid)
        await asyncio.sleep(seconds)
        cpu_end = meter.snapshot()
        window, stored_end = time.monotonic() - window_start, (await consumer_status(consumer))["stored"]
        profile = profiler.stop() if profiler is not None else {}
        counts, codes, latencies, acks = pool.collect()
    # Everything offered stored by now? (the backlog, if the pipeline fell behind)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (await consumer_status(consumer))["stored"] - before >= counts["accepted"]:
            break
        await asyncio.sleep(0.5)
    return {
        "connections": connected,
        "connect_failures": failed,
        "offered_per_s": rate,
        "stored_per_s": (stored_end - stored_start) / window,
        "counts": counts,
        "errors": codes,
        "latency_ms": _percentiles(latencies),
        "accepted_ms": _percentiles(acks),
        "backlog_after": counts["accepted"] - ((await consumer_status(consumer))["stored"] - before),
        "cpu": meter.usage(cpu_start, cpu_end),
        "cpu_us_per_stored_message": meter.per_message(cpu_start, cpu_end, stored_end - stored_start),
        "consumer_batches_ms": (await consumer_status(consumer))["timings_ms"],
        **({"profile_top_self": profile} if profile else {}),
    }


def _steady(statuses: list[dict[str, Any]], partitions: int) -> bool:
    """Every consumer has partitions, none twice, all of them taken: the group is done joining."""
    assigned = [set(status.get("assigned") or ()) for status in statuses]
    taken = set().union(*assigned)
    return all(assigned) and sum(map(len, assigned)) == len(taken) == partitions


async def consumer_alone(
    platform: Platform,
    consumer: ServiceProcess,
    count: int,
    profiler: Profiler | None = None,
    *,
    consumers: int = 1,
    partitions: int = 6,
) -> dict[str, Any]:
    """Commands straight into Kafka (no socket, nobody connected), then how fast they are stored:
    by `consumer` alone, or with `consumers - 1` more processes of the same group (each its own
    static member), the partitions shared among them."""
    people = await platform.users(50)
    chats = [await platform.chat([people[i][0], people[(i + 1) % 50][0]]) for i in range(50)]
    producer = KafkaProducer(platform.bootstrap, client_id="bench")
    now = datetime.now(UTC)
    records = []
    for n in range(count):
        user_id, _ = people[n % 50]
        chat_id = uuid.UUID(chats[n % 50])
        command = SendMessage(
            command_id=uuid.uuid4(), chat_id=chat_id, user_id=user_id, issued_at=now,
            client_id=uuid.uuid4().hex, body=f"backlog message {n}",
        )  # fmt: skip
        records.append((platform.topics.commands, chat_key(chat_id), encode(command)))
    consumer.stop()  # the backlog builds up while it is away
    try:
        for start in range(0, len(records), 5000):
            await producer.send_many(records[start : start + 5000])
    finally:
        await producer.stop()
    extra = [
        ServiceProcess(
            "consumer", {**platform.env, "PARLEY_CONSUMER_INSTANCE_ID": f"bench-{i}"}, platform.log_dir
        )
        for i in range(1, consumers)
    ]
    group = [consumer, *extra]
    started = time.monotonic()
    for proc in group:  # all at once: the group forms while the first ones start storing
        proc.spawn()
    for proc in group:
        proc.wait_healthy(90)

    async def stored_now() -> tuple[int, list[dict[str, Any]]]:
        statuses = [await consumer_status(proc) for proc in group]
        return sum(status["stored"] for status in statuses), statuses

    first: tuple[float, int] | None = None  # when storing was first seen under way, and how far
    steady: tuple[float, int] | None = None  # when the group had finished joining, and how far
    meter = CpuMeter(
        {
            **{k: v for k, v in cpu_parts(consumer, [], []).items() if k not in ("socket", "clients")},
            "consumer": lambda: [proc.pid for proc in group],
        }
    )
    cpu_start = cpu_end = meter.snapshot()
    metered = 0
    if profiler is not None:
        profiler.start("consumer-alone", consumer.pid)
    try:
        while time.monotonic() - started < 300:
            stored, statuses = await stored_now()  # every process counts from its own start
            if first is None and stored > 0:
                first = (time.monotonic(), stored)
                cpu_start = meter.snapshot()
            if steady is None and _steady(statuses, partitions):
                steady = (time.monotonic(), stored)
            if stored >= count:
                cpu_end = meter.snapshot()
                metered = stored - (first[1] if first else 0)
                break
            await asyncio.sleep(0.1)
        done = time.monotonic()
        profile = profiler.stop() if profiler is not None else {}
        stored, statuses = await stored_now()
    finally:
        for proc in extra:
            proc.stop()
    steady_rate = (stored - steady[1]) / (done - steady[0]) if steady and done > steady[0] else None
    return {
        "commands": count,
        "consumer_processes": len(group),
        "stored": stored,
        "seconds_incl_process_start": done - started,
        "per_s_once_running": (stored - first[1]) / (done - first[0]) if first else 0.0,
        "per_s_once_the_group_was_steady": steady_rate,
        "steady_after_s": (steady[0] - started) if steady else None,
        "batches": sum(status["batches"] for status in statuses),
        "batch_ms": [status["timings_ms"] for status in statuses],
        "cpu_us_per_stored_message": meter.per_message(cpu_start, cpu_end, metered),
        **({"profile_top_self": profile} if profile else {}),
    }


async def idle_phase(platform: Platform, count: int, workers: int) -> dict[str, Any]:
    socket = platform.start("socket")
    await asyncio.sleep(2)
    # Users with four devices each, every user in a chat of its own with one other.
    people = await platform.users(max(1, count // 4))
    limit = asyncio.Semaphore(4)

    async def pair(i: int) -> None:
        async with limit:
            await platform.chat([people[i][0], people[i + 1][0]])

    await asyncio.gather(*(pair(i) for i in range(0, len(people) - 1, 2)))
    conns = [
        {"token": token, "user_id": str(user_id), "send_to": None}
        for n in range(count)
        for user_id, token in [people[n % len(people)]]
    ]
    before = rss_kib(socket.pid)
    specs = [
        {"url": socket.ws_url, "conns": part, "mode": "idle", "connect_concurrency": 200}
        for part in split(conns, workers)
    ]
    started = time.monotonic()
    with Workers(specs) as pool:
        connected, failed = pool.ready(timeout=1200)
        elapsed = time.monotonic() - started
        await asyncio.sleep(3)
        after = rss_kib(socket.pid)
        async with httpx.AsyncClient() as http:
            health = (await http.get(f"{socket.url}/healthz", timeout=10)).status_code
        pool.stop.set()
        pool.go.set()
        pool.collect()
    return {
        "asked": count,
        "connected": connected,
        "failed": failed,
        "connect_seconds": elapsed,
        "rss_before_mib": before / 1024,
        "rss_after_mib": after / 1024,
        "kib_per_connection": (after - before) / max(connected, 1),
        "healthz": health,
        "nofile_limit": open_files_limit(),
    }


def open_files_limit() -> str:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return f"soft {soft}, hard {hard}"


# --- main ------------------------------------------------------------------------------------------


def report(title: str, result: dict[str, Any]) -> None:
    print(f"\n== {title}")
    print(json.dumps(result, indent=2, default=str))


async def bench(
    args: argparse.Namespace, dsn: str, endpoints: dict[str, dict[str, str]], log_dir: Path
) -> None:
    signer_holder = Signer("bench-key")
    with JwksServer(signer_holder) as jwks, contextlib.ExitStack() as stack:
        platform = Platform(dsn, endpoints, log_dir, jwks.url)
        platform.signer = signer_holder
        try:
            await platform.topics_up(args.partitions)
            if args.trace_ratio is not None:
                # Traces to the dev stack's Zipkin, this share of messages sampled (docs/observability.md).
                platform.env["PARLEY_TRACE_ENDPOINT"] = endpoints["zipkin"]["spans"]
                platform.env["PARLEY_TRACE_SAMPLE_RATIO"] = str(args.trace_ratio)
                print(f"tracing on: {args.trace_ratio} of messages sampled, exported to Zipkin")
            else:
                print("tracing off")
            consumer = platform.start("consumer")
            sockets = [platform.start("socket") for _ in range(args.sockets)]
            print(f"consumer + {len(sockets)} socket process(es); client worker processes: {args.workers}")
            began = time.time()
            if args.pictures is not None:
                prometheus = PrometheusProcess(
                    log_dir,
                    [(f"127.0.0.1:{consumer.port}", "/metrics", {"parley_service": "consumer"})]
                    + [(f"127.0.0.1:{s.port}", "/metrics", {"parley_service": "socket"}) for s in sockets],
                ).start()
                stack.callback(prometheus.stop)
            edge_url = None
            if args.through_envoy:
                edge = start_edge(jwks.url, sockets[0], log_dir)
                stack.callback(edge.stop)
                edge_url = edge.ws_url
                print(f"clients connect through Envoy ({edge.url}), in front of the first socket process")
            print(f"cores: {os.cpu_count()}; load average before: {os.getloadavg()}")
            if "latency" not in args.skip:
                result = await load_phase(
                    platform, sockets, consumer, chats=20, members=5, rate=args.rate,
                    seconds=args.seconds, workers=args.workers, edge_url=edge_url,
                    client=args.client, profiler=Profiler(args.profile),
                )  # fmt: skip
                report(f"latency at {args.rate:.0f} msg/s (20 chats x 5 members, 4 receivers each)", result)
            if "throughput" not in args.skip:
                for rate in args.rates:
                    result = await load_phase(
                        platform, sockets, consumer, chats=100, members=2, rate=rate,
                        seconds=args.seconds, workers=args.workers, edge_url=edge_url,
                        client=args.client,
                    )  # fmt: skip
                    report(f"throughput at {rate:.0f} msg/s offered (100 chats x 2 members)", result)
            if "consumer" not in args.skip:
                report(
                    f"consumer alone ({args.consumers} process(es)), draining a backlog",
                    await consumer_alone(
                        platform,
                        consumer,
                        args.backlog,
                        Profiler(args.profile),
                        consumers=args.consumers,
                        partitions=args.partitions,
                    ),
                )
            if args.pictures is not None:
                await asyncio.sleep(3)  # the last scrapes
                for picture in snapshots.render(prometheus.url, args.pictures, began, time.time()):
                    print(f"picture: {picture}")
            for proc in sockets:
                proc.stop()
            if "idle" not in args.skip:
                report(
                    "idle connections on one socket process",
                    await idle_phase(platform, args.idle, args.workers),
                )
            print(f"\nload average after: {os.getloadavg()}")
        finally:
            await platform.close()


def start_edge(jwks_url: str, socket: ServiceProcess, log_dir: Path) -> EnvoyProcess:
    """Envoy in front of the socket process, its JWT gate on the bench's JWKS server. Every client
    connects from 127.0.0.1: the per-client rate limit is set out of the way (it would be one
    bucket for every simulated user)."""
    jwks = urlsplit(jwks_url)
    assert jwks.hostname is not None and jwks.port is not None
    auth = Upstream(jwks.hostname, jwks.port)
    upstreams = {name: auth for name in BACKENDS}
    upstreams["socket"] = Upstream("127.0.0.1", socket.port)
    policy = EdgePolicy(issuer=ISSUER, jwks_path=jwks.path, requests_per_second=100_000, burst=100_000)
    return EnvoyProcess(policy, upstreams, log_dir).start()


@contextlib.contextmanager
def run_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        yield Path(tmp)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="latency phase, msg/s (default 1000)")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per load phase")
    parser.add_argument(
        "--rates", type=lambda s: [float(x) for x in s.split(",")], default=[2000.0, 4000.0, 6000.0]
    )
    parser.add_argument("--backlog", type=int, default=30000, help="commands for the consumer-alone phase")
    parser.add_argument("--idle", type=int, default=19900, help="idle connections to open")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--sockets", type=int, default=1, help="socket processes in the load phases")
    parser.add_argument(
        "--consumers", type=int, default=1, help="consumer processes (one group) in the consumer-alone phase"
    )
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the commands topic")
    parser.add_argument(
        "--skip", type=lambda s: set(s.split(",")), default=set(), help="latency,throughput,consumer,idle"
    )
    parser.add_argument(
        "--through-envoy",
        action="store_true",
        help="load phases' clients connect through the entry point (a real Envoy from the operator's "
        "rendering) instead of straight to the socket process",
    )
    parser.add_argument(
        "--trace-ratio",
        type=float,
        default=None,
        help="tracing on, this share of messages sampled, exported to the dev stack's Zipkin "
        "(default: tracing off)",
    )
    parser.add_argument(
        "--pictures",
        type=Path,
        default=None,
        help="scrape the run's processes with a Prometheus of its own and plot the dashboards' "
        "panels into this folder at the end (observability/snapshots.py)",
    )
    parser.add_argument(
        "--client",
        choices=("lean", "full", "go"),
        default="lean",
        help="load phases' clients: lean (no JSON parsing of frames, counter client ids; the default), "
        "full (every frame parsed) or go (bench/goclient, compiled, one process; built on first use)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy record the consumer and socket processes during the measured windows (raw "
        "collapsed stacks into this folder) and print their top functions",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="print where the service logs are and keep them"
    )
    args = parser.parse_args()

    endpoints = Stack().up(
        ["postgres", "redis", "kafka", *(["zipkin"] if args.trace_ratio is not None else [])]
    )
    with fresh_database(endpoints["postgres"]) as dsn:
        runner.upgrade(dsn)
        if args.keep_logs:
            log_dir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
            print(f"service logs: {log_dir}")
            asyncio.run(bench(args, dsn, endpoints, log_dir))
        else:
            with run_dir() as log_dir:
                asyncio.run(bench(args, dsn, endpoints, log_dir))


if __name__ == "__main__":
    main()
