"""Apache Kafka in KRaft mode, one node that is both broker and controller, from Maven Central.

The server's jars (kafka_2.13 and its runtime dependencies) are resolved with the machine's `mvn`
into one folder and run with the machine's Java; no distribution tarball is involved.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from parley.devstack import jvm, podnet, ports, process, versions
from parley.devstack.asyncbridge import run_coroutine
from parley.devstack.component import Command, Component
from parley.devstack.errors import DevStackError
from parley.devstack.maven import Artifact, copy_runtime_classpath

NODE_ID = 1
_CLUSTER_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")

ARTIFACTS = (
    Artifact("org.apache.kafka", f"kafka_{versions.KAFKA_SCALA}", versions.KAFKA),
    # Kafka logs through slf4j; without a binding on the classpath it would log nothing at all.
    Artifact("org.apache.logging.log4j", "log4j-slf4j-impl", versions.KAFKA_LOG4J2),
)

# Everything a single node needs that differs from Kafka's defaults (which assume 3+ brokers).
SERVER_PROPERTIES = {
    "process.roles": "broker,controller",
    "node.id": str(NODE_ID),
    "controller.quorum.voters": f"{NODE_ID}@{ports.HOST}:{ports.KAFKA_CONTROLLER}",
    "listeners": f"PLAINTEXT://{ports.HOST}:{ports.KAFKA},CONTROLLER://{ports.HOST}:{ports.KAFKA_CONTROLLER}",
    "advertised.listeners": f"PLAINTEXT://{ports.HOST}:{ports.KAFKA}",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "offsets.topic.replication.factor": "1",
    # Fewer internal partitions than the default 50: the first consumer group starts much faster.
    "offsets.topic.num.partitions": "8",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "8",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    # Tests join and leave groups constantly; the default 3 s wait would slow each one down.
    "group.initial.rebalance.delay.ms": "0",
    # The platform creates its topics on purpose; a typo must fail instead of making a new topic.
    "auto.create.topics.enable": "false",
    "delete.topic.enable": "true",
}

# Console only, on stderr: the base class captures it into the log file, and the storage tool's
# stdout (the cluster id it prints) stays clean.
LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = warn
"""


def pods_listener() -> dict[str, str]:
    """A second listener on the pod bridge, advertised there: a client in a pod bootstraps from
    it and is told to talk to the broker at an address it reaches (not the host's loopback)."""
    gateway = podnet.bridge_address()
    if gateway is None:
        return {}
    listener = f"PODS://{gateway}:{ports.KAFKA_PODS}"
    extra = {
        "listeners": listener,
        "advertised.listeners": listener,
        "listener.security.protocol.map": "PODS:PLAINTEXT",
    }
    return {key: f"{SERVER_PROPERTIES[key]},{value}" for key, value in extra.items()}


class Kafka(Component):
    name = "kafka"
    restart_on_new_command = True
    start_timeout = 90.0

    @property
    def libs(self) -> Path:
        return self.paths.builds / f"kafka-{versions.KAFKA}" / "libs"

    @property
    def root(self) -> Path:
        return self.paths.data("kafka")

    @property
    def server_properties(self) -> Path:
        return self.root / "config" / "server.properties"

    @property
    def log4j2_properties(self) -> Path:
        return self.root / "config" / "log4j2.properties"

    @property
    def log_dir(self) -> Path:
        return self.root / "log-dirs"

    def ports(self) -> dict[str, int]:
        return {"broker": ports.KAFKA, "controller": ports.KAFKA_CONTROLLER, "pods": ports.KAFKA_PODS}

    def install(self) -> None:
        jvm.java_home(self.setup_log)
        copy_runtime_classpath(self.paths, ARTIFACTS, self.libs, self.setup_log)

    def prepare(self) -> None:
        self.server_properties.parent.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        props = {**SERVER_PROPERTIES, "log.dirs": str(self.log_dir)}
        self.server_properties.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        self.log4j2_properties.write_text(LOG4J2_PROPERTIES)
        if not (self.log_dir / "meta.properties").exists():
            self._format_storage()

    def _java(self, *args: str, heap: str = "512m") -> list[str]:
        java = jvm.java_home(self.setup_log) / "bin" / "java"
        return [
            str(java),
            f"-Xmx{heap}",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log4j2_properties}",
            "-cp",
            f"{self.libs}/*",
            *args,
        ]

    def _format_storage(self) -> None:
        """A KRaft node needs its log directory formatted with a cluster id before the first start."""
        result = subprocess.run(
            self._java("kafka.tools.StorageTool", "random-uuid", heap="128m"),
            capture_output=True,
            text=True,
            check=False,
        )
        cluster_id = result.stdout.strip()
        if result.returncode != 0 or not _CLUSTER_ID.match(cluster_id):
            raise DevStackError(
                f"kafka.tools.StorageTool random-uuid failed (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
        process.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                cluster_id,
                "--config",
                str(self.server_properties),
                "--ignore-formatted",
                heap="128m",
            ),
            log_file=self.setup_log,
        )

    def command(self) -> Command:
        return Command(
            self._java(
                "-Xms512m",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "kafka.Kafka",
                str(self.server_properties),
                # On the command line, so a change of listeners restarts a running broker.
                *(arg for key, value in pods_listener().items() for arg in ("--override", f"{key}={value}")),
            ),
            cwd=self.root,
        )

    def healthy(self) -> bool:
        # The port first: an admin client against a closed port logs an error on every retry.
        return process.port_open(ports.KAFKA) and run_coroutine(_broker_answers(self.bootstrap))

    @property
    def bootstrap(self) -> str:
        return f"{ports.HOST}:{ports.KAFKA}"

    def endpoints(self) -> dict[str, str]:
        return {"bootstrap": self.bootstrap, **podnet.pods_endpoint("bootstrap", f"{{}}:{ports.KAFKA_PODS}")}


async def _broker_answers(bootstrap: str) -> bool:
    """An admin round trip: the broker is registered with the controller and lists topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), timeout=5)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout=5)
        await asyncio.wait_for(admin.list_topics(), timeout=5)
    finally:
        await admin.close()
    return any(broker["node_id"] == NODE_ID for broker in cluster["brokers"]) and (
        cluster["controller_id"] == NODE_ID
    )
