"""Traces follow a message: the socket's send, through Kafka (W3C context in the record's headers)
to the consumer's store and publish, through Redis to the delivery on every receiving socket; one
trace, in the dev stack's real Zipkin."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from parley.testing.waiting import wait_for

from tests.messaging.conftest import Platform


def _traces(zipkin: str, chat: str) -> list[list[dict[str, Any]]]:
    response = httpx.get(
        f"{zipkin}/api/v2/traces",
        params={"annotationQuery": f"chat_id={chat}", "lookback": 600_000, "limit": 10},
        timeout=5,
    )
    response.raise_for_status()
    traces: list[list[dict[str, Any]]] = response.json()
    return traces


def _whole_trace(zipkin: str, trace_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{zipkin}/api/v2/trace/{trace_id}", timeout=5)
    response.raise_for_status()
    spans: list[dict[str, Any]] = response.json()
    return spans


@pytest.mark.timeout(600)  # processes start slowly on a busy 2-core machine
async def test_one_trace_goes_from_the_sending_socket_through_kafka_to_every_receiving_socket(
    platform: Platform, zipkin_server: dict[str, str]
) -> None:
    traced = {"PARLEY_TRACE_ENDPOINT": zipkin_server["spans"], "PARLEY_TRACE_SAMPLE_RATIO": "1.0"}
    _, left, right = platform.start_all(
        "consumer", "socket", "socket", env={"consumer": traced, "socket": traced}, wait=180
    )
    ada, bob, cy = await platform.people("ada", "bob", "cy")
    chat = await platform.group(ada, bob, cy)
    sender = await platform.client(left, ada)
    bob_left = await platform.client(left, bob, name="bob-left")
    cy_right = await platform.client(right, cy)

    await sender.send_message(chat, "hello, traced")
    for client in (sender, bob_left, cy_right):
        await client.wait_until(lambda c=client: len(c.messages(chat)) == 1, within=20, what="the message")

    zipkin = zipkin_server["url"]
    receivers = {str(ada.id), str(bob.id), str(cy.id)}

    def complete() -> list[dict[str, Any]] | None:
        # Spans are exported in batches (1 s) by three processes: wait until all have arrived.
        found = _traces(zipkin, chat)
        if len(found) != 1:
            return None
        spans = _whole_trace(zipkin, found[0][0]["traceId"])
        names = {s["name"] for s in spans}
        delivered = {s.get("tags", {}).get("user_id") for s in spans if s["name"] == "socket deliver"}
        whole = {"socket send", "consumer store", "consumer publish"} <= names and delivered >= receivers
        return spans if whole else None

    spans = wait_for(complete, timeout=30, what="the message's whole trace in Zipkin")

    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_name.setdefault(span["name"], []).append(span)
    assert {s["traceId"] for s in spans} == {spans[0]["traceId"]}
    (send,) = by_name["socket send"]
    (store,) = by_name["consumer store"]
    (publish,) = by_name["consumer publish"]
    deliveries = by_name["socket deliver"]
    assert send["localEndpoint"]["serviceName"] == "parley-socket"
    assert store["localEndpoint"]["serviceName"] == "parley-consumer"
    assert "parentId" not in send  # the message's trace starts at the socket

    # The chain of parents: socket send -> Kafka producer span (the instrumentation's, whose
    # context the record's headers carried) -> consumer store -> publish -> each delivery.
    by_id = {s["id"]: s for s in spans}
    kafka_send = by_id[store["parentId"]]
    assert kafka_send["kind"] == "PRODUCER" and kafka_send["parentId"] == send["id"]
    assert publish["parentId"] == store["id"]
    assert {d["parentId"] for d in deliveries} == {publish["id"]}
    # One delivery per receiving connection, on both socket processes.
    assert sorted(d["tags"]["user_id"] for d in deliveries) == sorted(receivers)
    assert {d["localEndpoint"]["serviceName"] for d in deliveries} == {"parley-socket"}
    # In order of time (one machine, one clock): sent, stored, published, then delivered.
    assert send["timestamp"] <= kafka_send["timestamp"] <= store["timestamp"]
    assert store["timestamp"] + store["duration"] <= publish["timestamp"]
    assert all(publish["timestamp"] <= d["timestamp"] for d in deliveries)
