"""The dependency-outage matrix (issue 18): one outage per dependency and signal, observed across
every service that uses the dependency at once, under steady traffic.

Each cell runs auth, api, socket, consumer and presence as real processes against the dev stack's
servers, keeps chat traffic flowing through the socket (senders with a bounded window, each
retryable error sent again with the same client_id), stops one server (SIGTERM, or SIGKILL of its
process group) for `OUTAGE_SECONDS`, starts it again, and asserts:

- while it is gone: every service that requires it says not ready (`/readyz` 503), and what the
  socket answers is retryable; no HTTP answer is a 500; no process exits;
- after it returns: every service is ready again within `READY_WITHIN` seconds, the socket accepts
  commands again within that time, without any process restart (same pids, `/healthz` 200);
- every accepted message is stored exactly once, each chat's seqs without a gap.

It stops shared servers: marked disruptive (run on its own, `pytest -m disruptive`). The figures
of every cell are printed and, with PARLEY_RECOVERY_REPORT=<file>, appended there as JSON lines
(docs/recovery.md has the table).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from parley.devstack import process
from parley.devstack.stack import Stack
from parley.testing.processes import ServiceProcess
from parley.testing.waiting import TimedOut, eventually
from parley.testing.wsclient import ChatClient, Sender

from tests.messaging.conftest import Platform

OUTAGE_SECONDS = float(os.environ.get("PARLEY_OUTAGE_SECONDS", "30"))
READY_WITHIN = 5.0
SERVICES = ("auth", "api", "socket", "consumer", "presence")
# Who says not ready while the server is gone (the others report it without failing, or do not
# use it): docs/architecture.md, "Probes".
REQUIRED_BY = {
    "kafka": ("socket", "consumer"),
    "redis": ("auth", "socket", "consumer", "presence"),
    "postgres": ("auth", "api", "socket", "consumer"),
}
WINDOW = 4  # unanswered messages per sender at most: the load stays steady through an outage

pytestmark = [pytest.mark.disruptive, pytest.mark.timeout(900)]


@dataclass
class Probes:
    """Every service's /readyz and /healthz, polled 5 times a second, with the time of each."""

    procs: dict[str, ServiceProcess]
    ready: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    alive: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                await asyncio.gather(*(self._probe(http, name) for name in self.procs))
                await asyncio.sleep(0.2)

    async def _probe(self, http: httpx.AsyncClient, name: str) -> None:
        url = self.procs[name].url
        for path, into in (("/readyz", self.ready), ("/healthz", self.alive)):
            now = time.monotonic()
            try:
                status = (await http.get(url + path)).status_code
            except httpx.HTTPError:
                status = 0
            into[name].append((now, status))

    def first_ready_after(self, name: str, since: float) -> float | None:
        return next((t for t, status in self.ready[name] if t >= since and status == 200), None)

    def seen(self, name: str, status: int, start: float, end: float) -> bool:
        return any(start <= t <= end and s == status for t, s in self.ready[name])


@dataclass
class Traffic:
    senders: list[tuple[Sender, str]]
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_at: list[float] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, per_second: float) -> None:
        n = 0
        while not self.stop.is_set():
            for sender, chat in self.senders:
                if len(sender.pending) < WINDOW:
                    await sender.send(chat, f"m{n}")
                    n += 1
            await asyncio.sleep(len(self.senders) / per_second)

    def watch(self, client: ChatClient) -> None:
        previous = client.on_frame

        def frame(f: dict[str, Any]) -> None:
            if f.get("type") == "accepted":
                self.accepted_at.append(time.monotonic())
            elif f.get("type") == "error" and f.get("client_id"):
                self.errors.append(f)
                self.error_at.append(time.monotonic())
            if previous is not None:
                previous(f)

        client.on_frame = frame


async def settle(check: Callable[[], bool], within: float) -> bool:
    """Whether `check` comes true within `within` seconds (the caller asserts what it means)."""

    async def probe() -> bool:
        return check()

    try:
        await eventually(probe, within=within, every=0.2)
    except TimedOut:
        return False
    return True


def _append(path: str, line: str) -> None:
    with open(path, "a") as out:
        out.write(line + "\n")


def _outage(dependency: str, how: str) -> None:
    component = Stack().component(dependency)
    if how == "SIGKILL":
        process.stop(component.pid_file, timeout=10, sig=signal.SIGKILL)
    else:
        component.down()


async def one_outage(
    dependency: str, how: str, procs: dict[str, ServiceProcess], probes: Probes, traffic: Traffic
) -> dict[str, Any]:
    """Stop the server, check the services say so, start it after OUTAGE_SECONDS, measure how long
    each service takes to be ready again and the socket to accept again."""
    component = Stack().component(dependency)
    errors_before = len(traffic.errors)
    stopped_at = time.monotonic()
    try:
        await asyncio.to_thread(_outage, dependency, how)
        down_at = time.monotonic()
        # Every service that requires it says so within a bounded time.
        required = REQUIRED_BY[dependency]
        await settle(lambda: all(probes.seen(n, 503, down_at, time.monotonic()) for n in required), 20)
        not_unready = [name for name in required if not probes.seen(name, 503, down_at, time.monotonic())]
        await asyncio.sleep(max(0.0, stopped_at + OUTAGE_SECONDS - time.monotonic()))
        errors_during = len(traffic.errors) - errors_before
        # Still answering at the end of the outage (not only at its start)?
        errors_last_10s = sum(1 for t in traffic.error_at if t >= time.monotonic() - 10)
    finally:
        await asyncio.to_thread(component.up)
    back_at = time.monotonic()
    await settle(lambda: all(probes.first_ready_after(name, back_at) for name in procs), 30)
    to_ready = {
        name: (None if (t := probes.first_ready_after(name, back_at)) is None else round(t - back_at, 2))
        for name in procs
    }
    await settle(lambda: any(t >= back_at for t in traffic.accepted_at), 30)
    first_accept = next((t for t in traffic.accepted_at if t >= back_at), None)
    await asyncio.sleep(3.0)  # some traffic after the return
    return {
        "dependency": dependency,
        "signal": how,
        "outage_s": round(back_at - stopped_at, 1),
        "still_ready_without_it": not_unready,
        "to_ready_s": to_ready,
        "socket_first_accept_s": None if first_accept is None else round(first_accept - back_at, 2),
        "socket_errors_during": errors_during,
        "socket_errors_last_10s": errors_last_10s,
    }


@pytest.mark.parametrize("dependency", ["kafka", "redis", "postgres"])
async def test_services_ride_out_outages(platform: Platform, dependency: str) -> None:
    """Both variants, SIGTERM then SIGKILL, on the same processes (none restarted between)."""
    procs = {name: ServiceProcess(name, platform.env, platform.log_dir) for name in SERVICES}
    platform.processes.extend(procs.values())
    for proc in procs.values():
        proc.spawn()
    for proc in procs.values():
        proc.wait_healthy(180)  # five at once on a loaded 2-core machine: mostly imports
    pids = {name: proc.pid for name, proc in procs.items()}
    people = await platform.people("ada", "bob", "cy", "di")
    chats = [await platform.group(people[0], people[1]), await platform.group(people[2], people[3])]
    senders: list[tuple[Sender, str]] = []
    for i, person in enumerate(people):
        client = await platform.client(procs["socket"], person)
        sender = Sender(client, retry_delay=0.5)
        senders.append((sender, chats[i // 2]))
    traffic = Traffic(senders)
    for sender, _ in senders:
        traffic.watch(sender.client)
    probes = Probes(procs)
    background = [asyncio.create_task(probes.run()), asyncio.create_task(traffic.run(per_second=40.0))]
    cells = []
    try:
        # Steady traffic first: accepted, and for a while.
        await eventually(lambda: traffic.accepted_at, within=30, what="accepted before the outage")
        await asyncio.sleep(3.0)
        for how in ("SIGTERM", "SIGKILL"):
            cells.append(await one_outage(dependency, how, procs, probes, traffic))
    finally:
        traffic.stop.set()
        await asyncio.sleep(0.1)

    for sender, _ in senders:
        await sender.all_accepted(within=60)
    for task in background:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    accepted = {cid for sender, _ in senders for cid in sender.accepted}
    # The test's own pool held connections of the server that was stopped: new ones.
    await platform.engine.dispose()
    stored_total = 0
    for chat in chats:
        chat_accepted = {cid for sender, c in senders if c == chat for cid in sender.accepted}
        with contextlib.suppress(TimedOut):
            want = len(chat_accepted)
            await eventually(lambda c=chat: platform.stored(c), lambda s, n=want: len(s) >= n, within=60)
        stored = await platform.stored(chat)
        stored_ids = [client_id for _, client_id, _ in stored]
        assert len(stored_ids) == len(set(stored_ids)), f"{chat}: a message stored twice"
        assert set(stored_ids) == chat_accepted, f"{chat}: accepted and stored differ"
        assert [seq for seq, _, _ in stored] == list(range(2, len(stored) + 2)), f"{chat}: seqs with a gap"
        stored_total += len(stored_ids)
    for cell in cells:
        cell.update(
            accepted=len(accepted),
            stored=stored_total,
            lost=len(accepted) - stored_total,
            duplicated=0,
            error_codes=sorted({str(e.get("code")) for e in traffic.errors}),
        )
        print(json.dumps(cell))
        if report := os.environ.get("PARLEY_RECOVERY_REPORT"):
            await asyncio.to_thread(_append, report, json.dumps(cell))

    # No process exited or was restarted; every one alive.
    for name, proc in procs.items():
        assert proc.proc is not None and proc.proc.poll() is None, f"{name} exited:\n{proc.log_tail()}"
        assert proc.pid == pids[name]
    async with httpx.AsyncClient(timeout=3.0) as http:
        for name, proc in procs.items():
            assert (await http.get(proc.url + "/healthz")).status_code == 200, name
    # Whatever the socket answered was retryable (the senders sent those again).
    assert all(e.get("retryable") for e in traffic.errors), {str(e.get("code")) for e in traffic.errors}
    for cell in cells:
        assert cell["still_ready_without_it"] == [], cell
        slow = {name: t for name, t in cell["to_ready_s"].items() if t is None or t > READY_WITHIN}
        assert slow == {}, f"not ready within {READY_WITHIN} s of {dependency}'s return: {cell}"
        first = cell["socket_first_accept_s"]
        assert first is not None and first <= READY_WITHIN, cell
        if dependency == "kafka":
            assert cell["socket_errors_during"] > 0, cell
