"""Where the dev stack keeps downloads, builds, data and logs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Servers that refuse to run as root (PostgreSQL, OpenSearch) run as this system user.
SERVICE_USER = "parley-dev"


@dataclass(frozen=True)
class Paths:
    cache: Path
    """Downloads and builds, kept between runs: ~/.cache/parley unless PARLEY_CACHE says otherwise."""
    state: Path
    """Data directories, pid files and logs of the running stack."""
    user_state: Path
    """State of the servers run as SERVICE_USER; outside /root, which that user cannot enter."""

    @classmethod
    def from_env(cls) -> Paths:
        cache = Path(os.environ.get("PARLEY_CACHE", Path.home() / ".cache" / "parley"))
        state = Path(os.environ.get("PARLEY_DEV_STATE", cache / "dev"))
        if os.geteuid() == 0:
            user_state = Path(os.environ.get("PARLEY_DEV_USER_STATE", "/var/lib/parley-dev"))
        else:
            user_state = state / "user"
        return cls(cache=cache, state=state, user_state=user_state)

    @property
    def downloads(self) -> Path:
        return self.cache / "downloads"

    @property
    def builds(self) -> Path:
        return self.cache / "builds"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    def data(self, component: str) -> Path:
        return self.state / "data" / component

    def user_data(self, component: str) -> Path:
        return self.user_state / component
