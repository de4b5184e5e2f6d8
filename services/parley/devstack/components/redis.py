"""Redis 7 from Debian's packages, a private server on its own port."""

from __future__ import annotations

from pathlib import Path

import redis

from parley.devstack import podnet, ports
from parley.devstack.component import Command, Component
from parley.devstack.system import ensure_debian_packages

SERVER = Path("/usr/bin/redis-server")


class Redis(Component):
    name = "redis"
    # Started before the pod bridge existed (or by code without it): restarted to listen there too.
    restart_on_new_command = True

    def ports(self) -> dict[str, int]:
        return {"resp": ports.REDIS}

    def install(self) -> None:
        ensure_debian_packages({"redis-server": str(SERVER)}, self.setup_log)

    def prepare(self) -> None:
        self.paths.data("redis").mkdir(parents=True, exist_ok=True)

    def command(self) -> Command:
        return Command(
            [
                str(SERVER),
                "--port",
                str(ports.REDIS),
                "--bind",
                *podnet.listen_hosts(ports.HOST),
                "--dir",
                str(self.paths.data("redis")),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--databases",
                "64",
                # Bound to loopback and the pod bridge only; protected mode would refuse the pods
                # (they are not local clients) of a server without a password.
                "--protected-mode",
                "no",
            ],
        )

    def healthy(self) -> bool:
        client = redis.Redis(host=ports.HOST, port=ports.REDIS, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def endpoints(self) -> dict[str, str]:
        return {
            "url": f"redis://{ports.HOST}:{ports.REDIS}/0",
            **podnet.pods_endpoint("url", f"redis://{{}}:{ports.REDIS}/0"),
        }
