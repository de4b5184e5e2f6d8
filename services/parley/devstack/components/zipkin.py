"""Zipkin, the trace backend of the dev stack: its server's executable jar from Maven Central, run
with the machine's Java, spans kept in memory (a restart forgets them), on loopback.

Services export to it when PARLEY_TRACE_ENDPOINT is set (the stack sets it from this component's
`spans` endpoint); its UI is at http://127.0.0.1:19411/zipkin/.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from parley.devstack import jvm, maven, ports, versions
from parley.devstack.component import Command, Component

ARTIFACT = maven.Artifact("io.zipkin", "zipkin-server", versions.ZIPKIN, classifier="exec")


class Zipkin(Component):
    name = "zipkin"
    start_timeout = 120.0

    def ports(self) -> dict[str, int]:
        return {"http": ports.ZIPKIN}

    @property
    def jar(self) -> Path:
        return maven.fetch(self.paths, ARTIFACT, self.setup_log)

    def install(self) -> None:
        jvm.java_home(self.setup_log)
        maven.fetch(self.paths, ARTIFACT, self.setup_log)

    def command(self) -> Command:
        java = jvm.java_home(self.setup_log) / "bin" / "java"
        return Command(
            [
                str(java),
                "-Xms64m",
                "-Xmx384m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",  # starts in about half the time; it is a dev backend
                "-Djava.awt.headless=true",
                "-jar",
                str(self.jar),
                f"--armeria.ports[0].port={ports.ZIPKIN}",
                f"--armeria.ports[0].ip={ports.HOST}",
                "--armeria.ports[0].protocols[0]=http",
            ],
            env={"STORAGE_TYPE": "mem", "MEM_MAX_SPANS": "200000"},
        )

    def healthy(self) -> bool:
        response = httpx.get(f"http://{ports.HOST}:{ports.ZIPKIN}/health", timeout=2)
        return response.status_code == 200 and response.json().get("status") == "UP"

    def scrape_targets(self) -> list[tuple[str, str]]:
        return [(f"{ports.HOST}:{ports.ZIPKIN}", "/prometheus")]

    def endpoints(self) -> dict[str, str]:
        base = f"http://{ports.HOST}:{ports.ZIPKIN}"
        return {
            "url": base,
            "ui": f"{base}/zipkin/",
            "spans": f"{base}/api/v2/spans",
            # The dev stack records every trace (a person clicking around wants to find theirs).
            "sample_ratio": "1.0",
        }
