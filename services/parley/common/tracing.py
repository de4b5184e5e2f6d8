"""Traces (OpenTelemetry), exported to Zipkin, following a message from the socket to every
receiving socket:

    socket send ─▶ (Kafka header) ─▶ consumer store ─▶ consumer publish ─▶ (Redis) ─▶ socket deliver

- `setup_tracing(settings)` once per process: a tracer provider sampling `trace_sample_ratio` of the
  new traces (a child follows its parent's decision), a batch exporter to `trace_endpoint` (Zipkin's
  v2 spans API, or an OTLP/HTTP collector: the ChatPlatform's `observability.otlpEndpoint`), and
  the kept instrumentation packages: aiokafka (a producer span per record, the W3C
  trace context injected into the record's headers; a receive span per consumed record), redis-py,
  asyncpg; FastAPI apps get theirs in `common.service.new_app`. Without an endpoint nothing is set
  up and every helper here is a cheap no-op (`enabled()` is False).
- Kafka: the instrumentation injects the *current* context into headers; `attached(ctx)` makes a
  message's context current around a send made from another task (the socket's feeder, the
  publisher's batch); `from_headers` reads it back on the consuming side.
- Redis pub/sub has no headers. A sampled message's payload is prefixed with `@tp:<traceparent> `
  (JSON never starts with `@`); `unwrap` splits it off again. Unsampled messages are unchanged, so
  readers that never trace pay nothing. (Hand-written: no kept package propagates through pub/sub.)
"""

from __future__ import annotations

import atexit
import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

if TYPE_CHECKING:
    from parley.common.settings import BaseServiceSettings

log = logging.getLogger(__name__)

TRACER_NAME = "parley"
REDIS_PREFIX = b"@tp:"
_TRACEPARENT_LEN = 55  # version-traceid-spanid-flags: 2+1+32+1+16+1+2

_provider: object | None = None  # the SDK's TracerProvider, once set up


def enabled() -> bool:
    return _provider is not None


def setup_tracing(settings: BaseServiceSettings, service: str | None = None) -> bool:
    """Configure this process's tracing from the settings; idempotent. True when traces are on.
    `service`: the name traces carry (`parley-<service>`) unless PARLEY_SERVICE_NAME says."""
    global _provider
    if _provider is not None:
        return True
    endpoint = settings.trace_endpoint
    if not endpoint or settings.trace_sample_ratio <= 0:
        return False
    from opentelemetry.exporter.zipkin.json import ZipkinExporter
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from parley import __version__

    name = settings.service_name if "service_name" in settings.model_fields_set else service or "parley"
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"parley-{name}", "service.version": __version__}),
        sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
    )
    exporter: SpanExporter
    if settings.trace_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint, timeout=5)
    else:
        exporter = ZipkinExporter(endpoint=endpoint, timeout=5)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    trace.set_tracer_provider(provider)
    AIOKafkaInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    atexit.register(provider.shutdown)
    _provider = provider
    log.info("tracing to %s, sampling %s of new traces", endpoint, settings.trace_sample_ratio)
    return True


_tracer: tuple[object, trace.Tracer] | None = None  # (its provider, the tracer)


def tracer() -> trace.Tracer:
    """The tracer of this process's provider, made once (get_tracer costs more than a span), or the
    global API's no-op one when tracing is off."""
    global _tracer
    if _provider is None:
        return trace.get_tracer(TRACER_NAME)
    if _tracer is None or _tracer[0] is not _provider:
        _tracer = (_provider, _provider.get_tracer(TRACER_NAME))  # type: ignore[attr-defined]
    return _tracer[1]


def start_root(name: str, kind: SpanKind = SpanKind.PRODUCER, **attributes: str | int) -> Span | None:
    """A new trace (sampled or not by the ratio); None when tracing is off."""
    if _provider is None:
        return None
    return tracer().start_span(name, context=Context(), kind=kind, attributes=attributes)


def start_child(
    name: str,
    parent: Context | None,
    kind: SpanKind = SpanKind.INTERNAL,
    start_time: int | None = None,
    **attributes: str | int,
) -> Span | None:
    """A span under `parent` when that is a sampled trace; None otherwise (nothing to record)."""
    if parent is None or _provider is None:
        return None
    if not trace.get_current_span(parent).get_span_context().trace_flags.sampled:
        return None
    return tracer().start_span(name, context=parent, kind=kind, attributes=attributes, start_time=start_time)


def context_of(span: Span | None) -> Context | None:
    return None if span is None else trace.set_span_in_context(span, Context())


@contextlib.contextmanager
def attached(ctx: Context | None) -> Iterator[None]:
    """Make `ctx` current for the block (the aiokafka instrumentation injects it into headers)."""
    if ctx is None:
        yield
        return
    from opentelemetry import context as otel_context

    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def from_headers(headers: Sequence[tuple[str, bytes]] | None) -> Context | None:
    """The trace context a Kafka record carries (W3C `traceparent` header), if any."""
    if _provider is None or not headers:
        return None
    carrier = {k: v.decode("latin-1") for k, v in headers if k in ("traceparent", "tracestate")}
    traceparent = carrier.get("traceparent")
    if traceparent is None or traceparent.endswith("-00"):
        return None  # none, or not sampled: nothing under it is recorded either
    return propagate.extract(carrier, context=Context())


def wrap(data: bytes, ctx: Context | None) -> bytes:
    """A pub/sub payload carrying `ctx` when it is a sampled trace; unchanged otherwise."""
    if ctx is None:
        return data
    span_context = trace.get_current_span(ctx).get_span_context()
    if not span_context.trace_flags.sampled:
        return data
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    traceparent = carrier.get("traceparent")
    if traceparent is None:
        return data
    return REDIS_PREFIX + traceparent.encode() + b" " + data


def unwrap(data: bytes) -> tuple[Context | None, bytes]:
    """A pub/sub payload's trace context (None when it has none) and the payload without it."""
    if not data.startswith(REDIS_PREFIX):
        return None, data
    start = len(REDIS_PREFIX)
    traceparent = data[start : start + _TRACEPARENT_LEN].decode("latin-1")
    rest = data[start + _TRACEPARENT_LEN + 1 :]
    if _provider is None:
        return None, rest
    return propagate.extract({"traceparent": traceparent}, context=Context()), rest


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span, for logs; None outside a recorded span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def instrument_app(app: object) -> None:
    """A server span per HTTP request of a FastAPI app (the kept instrumentation), when tracing is
    on; probes and scrapes are left out."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,  # type: ignore[arg-type]
        tracer_provider=_provider,  # type: ignore[arg-type]
        excluded_urls="healthz,readyz,metrics",
    )
