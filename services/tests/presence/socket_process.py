"""A stand-in for a socket process: a real separate process that runs a ConnectionReporter for
some connections, then lives until it is killed (SIGKILL: not a word to anyone) or stopped
(SIGTERM: a clean stop, as the socket's lifespan does it).

    python -m tests.presence.socket_process '<json config>'

Config: bootstrap, topic_prefix, instance_id, heartbeat_seconds, connections: [[user id, connection id]].
Prints `ready` once Kafka acknowledged every connection.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid

from parley.common.kafka import KafkaProducer
from parley.common.presence import ConnectionReporter
from parley.common.topics import Topics


async def main(config: dict[str, object]) -> None:
    producer = KafkaProducer(str(config["bootstrap"]), client_id="fake-socket")
    reporter = ConnectionReporter(
        producer,
        Topics(str(config["topic_prefix"])),
        instance_id=str(config["instance_id"]),
        heartbeat_seconds=float(str(config["heartbeat_seconds"])),
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    reporter.start()
    connections = config["connections"]
    assert isinstance(connections, list)
    for user, connection in connections:
        reporter.connected(uuid.UUID(user), connection)
    if not await reporter.flush(30):
        sys.exit("Kafka did not acknowledge the connections")
    print("ready", flush=True)
    await stop.wait()
    await reporter.stop()
    await producer.stop()
    print("stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
