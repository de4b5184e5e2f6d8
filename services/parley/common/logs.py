"""Log lines of the services: JSON (python-json-logger) with the request id and, inside a traced
span, the trace and span ids, so a log line leads to its trace in Zipkin; or plain text."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

from parley.common import tracing
from parley.common.telemetry import request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ContextFilter(logging.Filter):
    """Adds `request_id`, `trace_id` and `span_id` to every record ('-' / absent outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        ids = tracing.current_ids() if tracing.enabled() else None
        if ids is not None:
            record.trace_id, record.span_id = ids
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        timestamp=False,
    )


def configure_logging(level: str, log_format: str = "json") -> None:
    """The root logger's one handler on stderr, at `level` for parley.* and everything else."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
