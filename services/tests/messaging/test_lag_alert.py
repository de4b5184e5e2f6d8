"""The consumer stops: the lag alert fires in a real Prometheus, then resolves once a consumer is
back. Everything stopped here belongs to the test: its own consumer and socket processes and its
own Prometheus (1 s scrape and evaluation), with the platform's rules file as shipped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from parley.common.events import SendMessage, encode
from parley.common.kafka import KafkaProducer
from parley.common.topics import chat_key
from parley.testing.prometheus import PrometheusProcess
from parley.testing.waiting import wait_for

from tests.messaging.conftest import Platform

BACKLOG = 1500  # over the alert's threshold of 1000
ALERT = "ParleyConsumerLagHigh"


@pytest.mark.timeout(600)  # processes start slowly on a busy 2-core machine
async def test_the_lag_alert_fires_while_the_consumer_is_stopped_and_resolves_after(
    platform: Platform, prometheus_server: dict[str, str], tmp_path: Path
) -> None:
    consumer, socket = platform.start_all(
        "consumer", "socket", env={"socket": {"PARLEY_SOCKET_LAG_INTERVAL_SECONDS": "1"}}, wait=180
    )
    ada, bob = await platform.people("ada", "bob")
    chat = uuid.UUID(await platform.group(ada, bob))
    prometheus = PrometheusProcess(
        tmp_path, [(f"127.0.0.1:{socket.port}", "/metrics", {"parley_service": "socket"})]
    ).start()
    try:
        lag = "max(parley_kafka_consumergroup_lag)"
        wait_for(lambda: prometheus.query(lag), timeout=60, what="the lag monitor's first reading")

        consumer.kill()
        producer = KafkaProducer(platform.env["PARLEY_KAFKA_BOOTSTRAP"], client_id="lag-test")
        try:
            await producer.send_many(
                [
                    (
                        platform.topics.commands,
                        chat_key(chat),
                        encode(
                            SendMessage(
                                command_id=uuid.uuid4(),
                                chat_id=chat,
                                user_id=ada.id,
                                issued_at=datetime.now(UTC),
                                client_id=f"m{i}",
                                body=f"backlog {i}",
                            )
                        ),
                    )
                    for i in range(BACKLOG)
                ]
            )
        finally:
            await producer.stop()

        def at_least(n: int) -> bool:
            result = prometheus.query(lag)
            return bool(result) and float(result[0]["value"][1]) >= n

        wait_for(lambda: at_least(BACKLOG), timeout=60, what=f"a lag of {BACKLOG}")
        firing = wait_for(
            lambda: [a for a in prometheus.alerts(ALERT) if a["state"] == "firing"],
            timeout=120,
            what=f"{ALERT} firing",
        )
        assert firing[0]["labels"]["topic"] == platform.topics.commands
        assert firing[0]["labels"]["severity"] == "critical"

        platform.start_all(
            "consumer", wait=180
        )  # a consumer again (the same static member id): it catches up
        wait_for(lambda: not prometheus.alerts(ALERT), timeout=180, what=f"{ALERT} resolved")

        # The alert resolves once the lag is down to its threshold; caught up, it is none at all.
        def caught_up() -> bool:
            result = prometheus.query(lag)
            return bool(result) and float(result[0]["value"][1]) == 0

        wait_for(caught_up, timeout=120, what="no lag left")
        assert len(await platform.stored(str(chat))) == BACKLOG
    finally:
        prometheus.stop()
