"""SMPP: an SMSC for SMS, jsmpp's `SMPPServerSimulator` (Maven org.jsmpp:jsmpp-examples), run from
its jars like Kafka. It accepts a bind with the system id and password given here, answers every
submit_sm with a message id, sends delivery receipts back, and logs what it received (slf4j-simple
on stderr, which is this component's log)."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from parley.devstack import jvm, ports, versions
from parley.devstack.component import Command, Component
from parley.devstack.maven import Artifact, copy_runtime_classpath

ARTIFACTS = (
    Artifact("org.jsmpp", "jsmpp-examples", versions.JSMPP),
    Artifact("org.slf4j", "slf4j-simple", versions.JSMPP_SLF4J),
)
SYSTEM_ID = "parley"
PASSWORD = "parley"  # noqa: S105 - the dev SMSC's fixed bind password, on loopback only


class Smpp(Component):
    name = "smpp"
    start_timeout = 60.0

    @property
    def libs(self) -> Path:
        return self.paths.cache / "smppsim" / "libs"

    def ports(self) -> dict[str, int]:
        return {"smpp": ports.SMPP}

    def install(self) -> None:
        jvm.java_home(self.setup_log)
        copy_runtime_classpath(self.paths, ARTIFACTS, self.libs, self.setup_log)

    def command(self) -> Command:
        return Command(
            simulator_command(self.libs, ports.SMPP, java=jvm.java_home(self.setup_log) / "bin" / "java")
        )

    def healthy(self) -> bool:
        # A bind, not a bare connect: the simulator accepts one connection at a time and waits 30 s
        # for the bind of each, so a probe that only connects would hold it up that long.
        return binds(ports.HOST, ports.SMPP)

    def endpoints(self) -> dict[str, str]:
        return {
            "host": ports.HOST,
            "port": str(ports.SMPP),
            "system_id": SYSTEM_ID,
            "password": PASSWORD,
            "log": str(self.log_file),
        }


def simulator_command(libs: Path, port: int, *, java: Path) -> list[str]:
    """The simulator on `port` (it listens on every address: loopback and the pod bridge)."""
    return [
        str(java),
        "-Xmx128m",
        "-Djava.awt.headless=true",
        f"-Djsmpp.simulator.port={port}",
        f"-Djsmpp.client.systemId={SYSTEM_ID}",
        f"-Djsmpp.client.password={PASSWORD}",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
        "-cp",
        f"{libs}/*",
        "org.jsmpp.examples.SMPPServerSimulator",
    ]


BIND_TRANSCEIVER, BIND_TRANSCEIVER_RESP, UNBIND, UNBIND_RESP = 0x00000009, 0x80000009, 0x00000006, 0x80000006
DELIVER_SM, DELIVER_SM_RESP = 0x00000005, 0x80000005


def _pdu(command: int, sequence: int, body: bytes = b"") -> bytes:
    return struct.pack("!IIII", 16 + len(body), command, 0, sequence) + body


def _read_pdu(sock: socket.socket) -> tuple[int, int, int]:
    header = b""
    while len(header) < 16:
        chunk = sock.recv(16 - len(header))
        if not chunk:
            raise ConnectionError("the SMSC closed the connection")
        header += chunk
    length, command, status, sequence = struct.unpack("!IIII", header)
    remaining = length - 16
    while remaining > 0:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ConnectionError("the SMSC closed the connection")
        remaining -= len(chunk)
    return command, status, sequence


def binds(host: str, port: int, timeout: float = 10.0) -> bool:
    """An SMPP 3.4 bind_transceiver is answered with status 0. The simulator then sends one
    deliver_sm to every new session and exits if it cannot (its main loop ends on that error), so
    the probe takes it and answers before it unbinds."""
    body = b"".join(
        [SYSTEM_ID.encode() + b"\0", PASSWORD.encode() + b"\0", b"\0", bytes([0x34, 0, 0]), b"\0"]
    )
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_pdu(BIND_TRANSCEIVER, 1, body))
            command, status, _ = _read_pdu(sock)
            if command != BIND_TRANSCEIVER_RESP or status != 0:
                return False
            while True:
                command, _, sequence = _read_pdu(sock)
                if command == DELIVER_SM:
                    sock.sendall(struct.pack("!IIII", 17, DELIVER_SM_RESP, 0, sequence) + b"\0")
                    break
            sock.sendall(_pdu(UNBIND, 2))
            while _read_pdu(sock)[0] != UNBIND_RESP:
                pass
            return True
    except OSError:
        return False
