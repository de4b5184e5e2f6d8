"""The contract every backing server of the dev stack fulfils.

A component knows how to install itself into the cache (idempotent, slow only the first time),
prepare its data directory, the command that runs it in the foreground, and how to tell that it is
healthy. The base class does the rest the same way for all: port checks, start, health wait, stop,
status, log files.
"""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from parley.devstack import process
from parley.devstack.errors import DevStackError, PortInUseError
from parley.devstack.paths import Paths
from parley.devstack.ui import Progress


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None
    """Run as this user (servers that refuse root); None runs as ourselves."""


class State(StrEnum):
    UP = "up"
    DOWN = "down"
    UNHEALTHY = "unhealthy"
    FOREIGN = "port taken by another process"


@dataclass(frozen=True)
class Status:
    name: str
    state: State
    pid: int | None
    endpoints: dict[str, str]
    log: Path


class Component(ABC):
    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    """Components that must be up before this one starts."""
    start_timeout: ClassVar[float] = 60.0
    stop_timeout: ClassVar[float] = 30.0
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    restart_on_new_command: ClassVar[bool] = False
    """Restart a running instance whose command line (flags) differs from what this code would run,
    so a change of flags takes effect on the next `up` (say, listening on the pod bridge too)."""

    def __init__(self, paths: Paths, ui: Progress) -> None:
        self.paths = paths
        self.ui = ui
        # Settings (PARLEY_*=…) of the components started before this one; Parley's own services
        # are configured from it.
        self.stack_env: dict[str, str] = {}

    # -- what each component says about itself ------------------------------------------------
    @abstractmethod
    def ports(self) -> dict[str, int]:
        """The loopback ports this component listens on, by purpose."""

    @abstractmethod
    def install(self) -> None:
        """Fetch or build what the component runs into the cache. Idempotent; fast when cached."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Create the data directory and anything else needed before each start (idempotent)."""

    @abstractmethod
    def command(self) -> Command:
        """The foreground command that runs the server."""

    @abstractmethod
    def healthy(self) -> bool:
        """True when the server does real work (not only when its port is open)."""

    @abstractmethod
    def endpoints(self) -> dict[str, str]:
        """How clients reach it: URLs, DSNs, paths."""

    def scrape_targets(self) -> list[tuple[str, str]]:
        """Where Prometheus scrapes this component: (host:port, metrics path) pairs; none by
        default. The dev Prometheus scrapes every component that is up and names any
        (components/prometheus.py), so a component added later is scraped without more work."""
        return []

    def after_start(self) -> None:  # noqa: B027 - optional hook
        """One-off work once the server is healthy (create a role, write a kubeconfig…)."""

    # -- shared behaviour ---------------------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return self.paths.logs / f"{self.name}.log"

    @property
    def setup_log(self) -> Path:
        return self.paths.logs / f"{self.name}.setup.log"

    @property
    def pid_file(self) -> Path:
        return self.paths.pids / f"{self.name}.pid"

    def pid(self) -> int | None:
        return process.read_pid(self.pid_file)

    def status(self) -> Status:
        pid = self.pid()
        if pid is None:
            taken = any(process.port_open(p) for p in self.ports().values())
            state = State.FOREIGN if taken else State.DOWN
        else:
            state = State.UP if self._healthy_quietly() else State.UNHEALTHY
        return Status(self.name, state, pid, self.endpoints(), self.log_file)

    def _healthy_quietly(self) -> bool:
        try:
            return self.healthy()
        except Exception:
            return False

    @property
    def command_file(self) -> Path:
        return self.paths.pids / f"{self.name}.argv"

    def _command_changed(self) -> bool:
        """True unless the running process (by pid) was started with the command this code runs;
        one started by other code, which records nothing, counts as changed."""
        try:
            recorded = self.command_file.read_text()
        except OSError:
            return True
        return recorded != "\n".join([str(self.pid()), *self.command().argv])

    def up(self) -> None:
        if self.pid() is not None and self.restart_on_new_command and self._command_changed():
            self.ui.step(self.name, "its flags changed: restarting it")
            self.down()
        if self.pid() is not None:
            if process.wait_until(
                self.healthy,
                timeout=self.start_timeout,
                still_running=lambda: self.pid() is not None,
            ):
                self.ui.step(self.name, "already up")
                return
            self.ui.step(self.name, "running but unhealthy: restarting it")
            self.down()
        for purpose, port in self.ports().items():
            if process.port_open(port):
                raise PortInUseError(f"{self.name} ({purpose})", port)
        self.ui.step(self.name, "installing (cached after the first time)")
        self.install()
        self.prepare()
        cmd = self.command()
        self.ui.step(self.name, f"starting; log: {self.log_file}")
        pid = process.spawn(
            cmd.argv,
            log_file=self.log_file,
            pid_file=self.pid_file,
            env=cmd.env,
            cwd=cmd.cwd,
            user=cmd.user,
        )
        self.command_file.write_text("\n".join([str(pid), *cmd.argv]))
        ok = process.wait_until(
            self.healthy, timeout=self.start_timeout, still_running=lambda: self.pid() is not None
        )
        if not ok:
            died = self.pid() is None
            self.down()
            why = "exited" if died else f"was not healthy within {self.start_timeout:.0f}s"
            raise DevStackError(
                f"{self.name} {why}; last lines of {self.log_file}:\n{process.tail(self.log_file)}"
            )
        self.after_start()
        self.ui.step(self.name, "up and healthy")

    def down(self) -> bool:
        return process.stop(self.pid_file, timeout=self.stop_timeout, sig=self.stop_signal)
