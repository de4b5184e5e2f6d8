"""The socket process's CPU time per delivered message (issue 16: the socket's CPU per message).

A real socket process and a real consumer (`python -m parley serve ...`) on the dev stack's
PostgreSQL, Redis and Kafka (a fresh migrated database, a Redis key prefix and Kafka topics of the
run's own, removed afterwards; the stack must be up: `parley dev up`). One chat of `--members`
members, each connected once; one of them sends `--messages` messages at `--rate` per second, each
delivered to every member's connection (the sender's too). The socket's CPU time (user + system,
from /proc/<pid>/stat) is read before and after; its idle CPU over as long a quiet window (the
readiness checks, heartbeats, lag monitor) is measured first and subtracted.

Figures: CPU µs per delivered message (= per event frame written to a connection) and per sent
message (a command in, an ack, `members` frames out). Benches on a shared machine are noisy:
print `uptime` next to them.

    .venv/bin/python bench/socket_cpu.py [--members 20] [--messages 3000] [--rate 300] [--runs 3]

`--micro`: no servers; the parts of the socket's per-message work changed in issue 16, in this
process, CPU time (not wall: the machine is shared), best of 5 rounds: the hub's handling of one
stored event from Redis for `--members` connections (parse, frame, the per-connection delivery
call; the connections only record it), building an `accepted` frame and an `error` frame, and a
command's deadline in the producer (submit, then the ack). Run it on two checkouts to compare
(PYTHONPATH=<other>/services).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from parley.api.membership import create_group
from parley.common.db import async_url
from parley.common.kafka import ensure_topics
from parley.common.topics import Topics
from parley.common.users.directory import username_key
from parley.devstack.stack import Stack
from parley.migrations import runner
from parley.testing.jwks import JwksServer
from parley.testing.processes import ServiceProcess
from parley.testing.slices import delete_prefix, delete_topics, fresh_database, unique
from parley.testing.tokens import ISSUER, Signer
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect

_INSERT_USER = sa.text(
    "INSERT INTO auth_users (id, username, username_key, email, email_key, password_hash, disabled,"
    " created_at, password_changed_at) VALUES (:id, :username, :key, :email, :email, 'bench', false,"
    " now(), now())"
)
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


class Receiver:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events = 0
        self.accepted = 0
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            text = message if isinstance(message, str) else message.decode()
            if text.startswith('{"type":"event"'):
                self.events += 1
            elif text.startswith('{"type":"accepted"'):
                self.accepted += 1


async def connect_client(url: str, token: str) -> Receiver:
    ws = await connect(url, subprotocols=["parley.v1"], compression=None, ping_interval=None)  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "auth", "token": token}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame["type"] == "hello":
            return Receiver(ws)
        if frame["type"] == "error":
            raise RuntimeError(frame)


async def wait_for(condition: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("not delivered in time")
        await asyncio.sleep(0.05)


async def one_run(
    args: argparse.Namespace, dsn: str, endpoints: dict[str, dict[str, str]], log_dir: Path
) -> None:
    signer = Signer("bench-key")
    prefix = unique("bcpu")
    topics = Topics(prefix)
    bootstrap = endpoints["kafka"]["bootstrap"]
    redis_url = endpoints["redis"]["url"]
    redis_prefix = f"{prefix}:"
    await ensure_topics(bootstrap, [topics.commands], partitions=2)
    await ensure_topics(bootstrap, [t for t in topics.all() if t != topics.commands])
    engine = create_async_engine(async_url(dsn), pool_size=2)
    procs: list[ServiceProcess] = []
    receivers: list[Receiver] = []
    with JwksServer(signer) as jwks:
        env = {
            "PARLEY_POSTGRES_DSN": dsn,
            "PARLEY_REDIS_URL": redis_url,
            "PARLEY_REDIS_KEY_PREFIX": redis_prefix,
            "PARLEY_KAFKA_BOOTSTRAP": bootstrap,
            "PARLEY_KAFKA_TOPIC_PREFIX": prefix,
            "PARLEY_AUTH_ISSUER": ISSUER,
            "PARLEY_AUTH_JWKS_URL": jwks.url,
            "PARLEY_CONSUMER_INSTANCE_ID": "bench-0",
            "PARLEY_SOCKET_COMMANDS_PER_SECOND": "5000",
            "PARLEY_SOCKET_COMMANDS_BURST": "5000",
            "PARLEY_SOCKET_FRAMES_PER_SECOND": "5000",
            "PARLEY_SOCKET_FRAMES_BURST": "5000",
        }
        try:
            for service in ("consumer", "socket"):
                proc = ServiceProcess(service, env, log_dir)
                procs.append(proc)
                proc.start(wait=90)
            socket = procs[1]
            rows: list[dict[str, Any]] = []
            for _ in range(args.members):
                name = f"b{uuid.uuid4().hex[:12]}"
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "username": name,
                        "key": username_key(name),
                        "email": f"{name}@b.test",
                    }
                )
            async with engine.begin() as conn:
                await conn.execute(_INSERT_USER, rows)
            async with engine.connect() as conn:
                chat_id, _ = await create_group(
                    conn, rows[0]["id"], "bench", [r["id"] for r in rows[1:]], max_members=10_000
                )
                await conn.commit()
            for row in rows:
                receivers.append(
                    await connect_client(socket.ws_url, signer.token(row["id"], row["username"]))
                )
            sender = receivers[0]

            async def send(count: int) -> None:
                interval = 1.0 / args.rate
                began = time.monotonic()
                for i in range(count):
                    pause = began + i * interval - time.monotonic()
                    if pause > 0:
                        await asyncio.sleep(pause)
                    frame = {"type": "send", "chat_id": str(chat_id), "client_id": uuid.uuid4().hex}
                    await sender.ws.send(json.dumps({**frame, "body": f"message {i} " + "x" * 80}))

            def delivered() -> int:
                return sum(r.events for r in receivers)

            # Warm up (imports, caches, producer metadata), then the idle baseline.
            await send(200)
            await wait_for(lambda: delivered() >= 200 * args.members, 60)
            await asyncio.sleep(1.0)
            idle_seconds = args.messages / args.rate
            cpu0, t0 = cpu_seconds(socket.pid), time.monotonic()
            await asyncio.sleep(idle_seconds)
            idle_rate = (cpu_seconds(socket.pid) - cpu0) / (time.monotonic() - t0)

            before = delivered()
            accepted_before = sender.accepted
            cpu0, t0 = cpu_seconds(socket.pid), time.monotonic()
            await send(args.messages)
            await wait_for(lambda: delivered() - before >= args.messages * args.members, 120)
            await wait_for(lambda: sender.accepted - accepted_before >= args.messages, 60)
            cpu1, t1 = cpu_seconds(socket.pid), time.monotonic()
            frames = delivered() - before
            busy = (cpu1 - cpu0) - idle_rate * (t1 - t0)
            load = os.getloadavg()
            print(
                f"socket CPU: {1e6 * busy / frames:.1f} µs per delivered message, "
                f"{1e6 * busy / args.messages:.0f} µs per sent message "
                f"({args.messages} sent, {frames} delivered to {args.members} connections "
                f"in {t1 - t0:.1f} s; "
                f"raw CPU {cpu1 - cpu0:.2f} s, idle {1e3 * idle_rate:.1f} ms/s subtracted); "
                f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
                flush=True,
            )
        finally:
            for receiver in receivers:
                await receiver.ws.close()
            for proc in procs:
                proc.stop()
            await engine.dispose()
            try:
                await delete_topics(bootstrap, f"{topics.prefix}.")
            except Exception as exc:
                print(f"(topics not deleted: {exc!r})")
            await delete_prefix(redis_url, redis_prefix)


def micro(members: int) -> None:
    import json as stdjson
    from datetime import UTC, datetime
    from unittest import mock

    from parley.socket import protocol
    from parley.socket.commands import CommandProducer
    from parley.socket.hub import Hub, UserState
    from parley.socket.ratelimit import TokenBucket

    class Connection:
        __slots__ = ("cursor", "frames")

        def __init__(self) -> None:
            self.cursor = 0
            self.frames = 0

        def deliver(self, chat_id: uuid.UUID, seq: int, frame: bytes) -> None:
            if seq == self.cursor + 1:
                self.cursor = seq
                self.frames += 1

    def best(fn: Callable[[], object], count: int) -> float:
        rounds = []
        for _ in range(5):
            began = time.process_time()
            for _ in range(count):
                fn()
            rounds.append((time.process_time() - began) / count)
        return 1e6 * min(rounds)

    async def run() -> None:
        hub = Hub(None, "redis://127.0.0.1:1", "b:", lambda: TokenBucket(1, 1))  # type: ignore[arg-type]
        chat_id = uuid.uuid4()
        connections = []
        for _ in range(members):
            user = UserState(uuid.uuid4(), TokenBucket(1, 1))
            user.ready.set_result(None)
            hub.users[user.user_id] = user
            hub._join_feed(user, chat_id)
            connection = Connection()
            user.connections.add(connection)  # type: ignore[arg-type]
            connections.append(connection)
        event = {
            "type": "message.created",
            "v": 1,
            "chat_id": str(chat_id),
            "seq": 0,
            "actor_id": str(uuid.uuid4()),
            "at": datetime.now(UTC).isoformat(),
            "command_id": str(uuid.uuid4()),
            "message": {"sender_id": str(uuid.uuid4()), "client_id": uuid.uuid4().hex, "body": "x" * 100},
        }
        head, tail = stdjson.dumps({**event, "seq": 0}, separators=(",", ":")).encode().split(b'"seq":0')
        channel = f"b:chat:{chat_id}".encode()
        seq = 0

        def stored() -> None:
            nonlocal seq
            seq += 1
            hub.on_message(channel, head + b'"seq":%d' % seq + tail)

        print(f"hub, one stored event to {members} connections: {best(stored, 20000):.2f} µs")
        assert all(c.frames == seq for c in connections)
        cid = uuid.uuid4()
        print(f"accepted frame: {best(lambda: protocol.accepted_frame('c1', chat_id, cid), 100000):.2f} µs")
        print(
            "error frame: "
            f"{best(lambda: protocol.error_frame('rate_limited', 'Too many.', client_id='c', chat_id=chat_id, retry_after_ms=5), 100000):.2f} µs"  # noqa: E501
        )
        producer = CommandProducer("127.0.0.1:1", "c", client_id="b", send_timeout=5.0)
        with mock.patch.object(
            CommandProducer, "connected", new_callable=mock.PropertyMock, return_value=True
        ):
            rounds = []
            for _ in range(5):
                began = time.process_time()
                for _ in range(500):  # 100 commands per loop turn, as under load
                    for _ in range(100):
                        producer.submit(b"k", b"v", lambda outcome: None)
                        producer._queue.popleft().finish(None)
                    await asyncio.sleep(0)
                rounds.append((time.process_time() - began) / 50000)
            print(f"command deadline (submit, ack; 100 per loop turn): {1e6 * min(rounds):.2f} µs")
        await hub.redis.aclose()
        await producer.kafka.stop()

    asyncio.run(run())
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=300.0, help="messages sent per second")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--micro", action="store_true", help="in this process, no servers (see above)")
    args = parser.parse_args()
    if args.micro:
        micro(args.members)
        return
    endpoints = Stack().require(["postgres", "redis", "kafka"])
    with fresh_database(endpoints["postgres"]) as dsn:
        runner.upgrade(dsn)
        with tempfile.TemporaryDirectory(prefix="parley-socket-cpu-") as log_dir:
            for _ in range(args.runs):
                asyncio.run(one_run(args, dsn, endpoints, Path(log_dir)))


if __name__ == "__main__":
    main()
