"""Parley's own services as local processes (`parley serve <name>`), configured from the stack."""

from __future__ import annotations

import os
import sys

import httpx

from parley.common.kafka import ensure_topics
from parley.common.settings import BaseServiceSettings
from parley.common.topics import Topics
from parley.devstack import ports, process
from parley.devstack.asyncbridge import run_coroutine
from parley.devstack.component import Command, Component


class ServiceProcess(Component):
    """One Parley service; subclasses name the service and the servers it needs."""

    service: str
    migrates = False
    """Run `parley migrate` before starting (idempotent; services that own tables)."""
    extra_env: dict[str, str] = {}  # noqa: RUF012  (a class-level default, replaced per service)
    """Settings of this service in the dev stack, on top of what the stack's servers provide."""
    start_timeout = 90.0  # imports alone took 30 s on a loaded 2-core machine

    @property
    def port(self) -> int:
        return ports.SERVICES[self.service]

    def ports(self) -> dict[str, int]:
        return {"http": self.port}

    def install(self) -> None:
        """Nothing to fetch: the service is this package."""

    def _env(self) -> dict[str, str]:
        return {
            # The entry point (Envoy, on loopback) puts the client's address in X-Forwarded-For.
            "PARLEY_TRUSTED_PROXIES": '["127.0.0.1/32"]',
            **self.stack_env,
            **self.extra_env,
            "PARLEY_SERVICE_NAME": self.service,
        }

    def prepare(self) -> None:
        if "kafka" in self.requires:
            self._ensure_topics()
        if self.migrates and not self._schema_current():
            process.run(
                [sys.executable, "-m", "parley", "migrate"],
                log_file=self.setup_log,
                env={**os.environ, **self._env()},
            )

    def _schema_current(self) -> bool:
        """Checked here (a fraction of a second) rather than by `parley migrate` in a process of its
        own (a few seconds of imports), so restarting one service costs about its own start."""
        from parley.migrations import runner

        dsn = self._env().get("PARLEY_POSTGRES_DSN")
        return dsn is not None and runner.is_current(dsn)

    def _ensure_topics(self) -> None:
        """The platform's topics, which the operator creates on Kubernetes (the dev Kafka does not
        create topics on first use)."""
        # The service inherits this process's environment, plus the stack's endpoints.
        settings = BaseServiceSettings()
        bootstrap = self.stack_env.get("PARLEY_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
        created = run_coroutine(ensure_topics(bootstrap, Topics(settings.kafka_topic_prefix).all()))
        if created:
            with self.setup_log.open("a") as log:
                log.write(f"created topics: {', '.join(created)}\n")

    def command(self) -> Command:
        return Command(
            [
                sys.executable,
                "-m",
                "parley",
                "serve",
                self.service,
                "--host",
                ports.HOST,
                "--port",
                str(self.port),
            ],
            env=self._env(),
        )

    def healthy(self) -> bool:
        response = httpx.get(f"{self.endpoints()['url']}/healthz", timeout=2)
        return response.status_code == 200

    def endpoints(self) -> dict[str, str]:
        return {"url": f"http://{ports.HOST}:{self.port}"}

    def scrape_targets(self) -> list[tuple[str, str]]:
        return [(f"{ports.HOST}:{self.port}", "/metrics")]


def service_component(
    service: str,
    requires: tuple[str, ...],
    migrates: bool = False,
    env: dict[str, str] | None = None,
) -> type[Component]:
    """A component class for one service, named `<service>` with prefix `svc-` in the stack."""
    return type(
        f"{service.title()}Service",
        (ServiceProcess,),
        {
            "name": f"svc-{service}",
            "service": service,
            "requires": requires,
            "migrates": migrates,
            "extra_env": dict(env or {}),
        },
    )
