"""CPU cost of tracing one message, in one process, measured as process CPU time (so a busy
machine slows it less than it slows wall-clock latencies): what the socket does per message (the
`socket send` root span, the aiokafka instrumentation's producer span and header injection), what
the consumer does (read the context from the headers, the store and publish spans, the Redis
payload prefix) and what a receiving socket does (strip the prefix, one `socket deliver` span).
Spans are exported to an in-memory exporter (no network), sampled at the given ratio.

    .venv/bin/python bench/tracing_cost.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import time

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind
from parley.common import tracing

PAYLOAD = b'{"type":"message.sent","chat_id":"5f0c","seq":1,"at":"2026-12-02T12:00:00+00:00"}'


def one_message(producer_tracer: trace.Tracer) -> None:
    # socket: the root span, and (as the aiokafka instrumentation does) a producer span whose
    # context goes into the record's headers
    send = tracing.start_root("socket send", chat_id="5f0c", command_id="c")
    headers: list[tuple[str, bytes]] = []
    with (
        tracing.attached(tracing.context_of(send)),
        producer_tracer.start_as_current_span("commands send", kind=SpanKind.PRODUCER) as span,
    ):
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        headers = [(k, v.encode()) for k, v in carrier.items()]
    if send is not None:
        send.end()
    # consumer
    store = tracing.start_child("consumer store", tracing.from_headers(headers), SpanKind.CONSUMER)
    if store is not None:
        store.end()
    publish = tracing.start_child("consumer publish", tracing.context_of(store))
    data = tracing.wrap(PAYLOAD, tracing.context_of(publish))
    if publish is not None:
        publish.end()
    # a receiving socket
    ctx, _ = tracing.unwrap(data) if data[:1] == b"@" else (None, data)
    deliver = tracing.start_child("socket deliver", ctx, SpanKind.CONSUMER)
    if deliver is not None:
        deliver.end()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()
    baseline = time.process_time()
    for _ in range(args.messages):
        tracing.wrap(PAYLOAD, None)
    print(f"tracing off: {(time.process_time() - baseline) / args.messages * 1e6:.1f} µs CPU per message")
    for ratio in (0.01, 0.1, 1.0):
        provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
        exporter = InMemorySpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=1_000_000))
        tracing._provider = provider  # what setup_tracing does, without the network exporter
        trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
        trace.set_tracer_provider(provider)
        tracer = provider.get_tracer("bench")
        started = time.process_time()
        for _ in range(args.messages):
            one_message(tracer)
        provider.force_flush()
        spent = time.process_time() - started
        print(
            f"sampling {ratio}: {spent / args.messages * 1e6:.1f} µs CPU per message "
            f"({len(exporter.get_finished_spans())} spans recorded); at 1,000 msg/s: "
            f"{spent / args.messages * 1000 * 100:.1f}% of one core"
        )
        provider.shutdown()


if __name__ == "__main__":
    main()
