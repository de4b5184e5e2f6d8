"""The operator as the cluster sees it: a separate `python -m parley_operator` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from parley.testing.waiting import free_port

START_TIMEOUT = 60.0


class OperatorProcess:
    """Starts, kills and stops one operator; its output goes to `log_path` (appended across
    restarts, so a failing test shows every run)."""

    def __init__(
        self,
        kubeconfig: Path,
        namespaces: list[str],
        log_path: Path,
        resync_seconds: float = 5.0,
        scale_seconds: float = 2.0,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespaces = namespaces
        self.log_path = log_path
        self.resync_seconds = resync_seconds
        self.scale_seconds = scale_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def liveness_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    def argv(self) -> list[str]:
        scope = [arg for ns in self.namespaces for arg in ("--namespace", ns)]
        return [
            sys.executable,
            "-m",
            "parley_operator",
            *scope,
            "--standalone",
            "--liveness",
            self.liveness_url,
            "--resync-seconds",
            str(self.resync_seconds),
            "--scale-seconds",
            str(self.scale_seconds),
            *(["--verbose"] if os.environ.get("PARLEY_OPERATOR_VERBOSE") else []),
        ]

    def start(self) -> None:
        if self.process is not None:
            raise RuntimeError("the operator is running already")
        self.port = free_port()
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start: {' '.join(self.argv())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv(),
                env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_alive()

    def _wait_alive(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.liveness_url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the operator was not alive within {START_TIMEOUT:.0f}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finalizing, as when a node dies under it."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def memory_kib(self) -> tuple[int, int]:
        """(resident now, peak resident) of the operator process, in KiB."""
        if self.process is None:
            raise RuntimeError("the operator is not running")
        fields = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
