"""The trace context's two hand-written carriers: Kafka record headers and the Redis payload prefix;
and that with tracing off nothing is set up and payloads are untouched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from opentelemetry.trace import format_trace_id
from parley.common import tracing
from parley.common.settings import BaseServiceSettings

PAYLOAD = b'{"type":"message.sent","seq":1}'


@pytest.fixture
def provider() -> Iterator[None]:
    """The test sets this process's provider (as setup_tracing would, without an exporter); the
    one before comes back after it."""
    saved = tracing._provider, tracing._tracer
    yield
    tracing._provider, tracing._tracer = saved


def _use(sampler: Sampler) -> None:
    tracing._provider = TracerProvider(sampler=sampler)


def test_without_an_endpoint_nothing_is_set_up_and_payloads_are_untouched() -> None:
    assert tracing.setup_tracing(BaseServiceSettings(trace_endpoint=None)) is False
    assert not tracing.enabled()
    assert tracing.start_root("socket send") is None
    assert tracing.wrap(PAYLOAD, None) == PAYLOAD
    assert tracing.unwrap(PAYLOAD) == (None, PAYLOAD)


def test_a_sampled_context_rides_on_the_redis_payload_and_comes_back(provider: None) -> None:
    _use(ALWAYS_ON)
    span = tracing.start_root("socket send")
    assert span is not None
    wrapped = tracing.wrap(PAYLOAD, tracing.context_of(span))
    assert wrapped.startswith(b"@tp:00-" + format_trace_id(span.get_span_context().trace_id).encode())
    ctx, data = tracing.unwrap(wrapped)
    assert data == PAYLOAD
    child = tracing.start_child("socket deliver", ctx)
    assert child is not None
    assert child.get_span_context().trace_id == span.get_span_context().trace_id
    assert child.parent is not None and child.parent.span_id == span.get_span_context().span_id


def test_an_unsampled_message_is_published_as_it_is_and_records_nothing_downstream(provider: None) -> None:
    _use(ALWAYS_OFF)
    span = tracing.start_root("socket send")
    assert span is not None and not span.get_span_context().trace_flags.sampled
    assert tracing.wrap(PAYLOAD, tracing.context_of(span)) == PAYLOAD
    assert tracing.start_child("consumer store", tracing.context_of(span)) is None


def test_kafka_headers_carry_a_sampled_context_and_skip_an_unsampled_one(provider: None) -> None:
    _use(ALWAYS_ON)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    sampled = [("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01".encode())]
    ctx = tracing.from_headers(sampled)
    child = tracing.start_child("consumer store", ctx)
    assert child is not None and format_trace_id(child.get_span_context().trace_id) == trace_id
    assert tracing.from_headers([("traceparent", f"00-{trace_id}-00f067aa0ba902b7-00".encode())]) is None
    assert tracing.from_headers([("other", b"x")]) is None
    assert tracing.from_headers(None) is None
