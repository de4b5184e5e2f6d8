"""The operator's metrics endpoint: address parsing and a real scrape."""

from __future__ import annotations

import urllib.request

import pytest
from parley.testing.waiting import free_port
from parley_operator.metrics import parse_address, serve


def test_addresses() -> None:
    assert parse_address(":9090") == ("0.0.0.0", 9090)
    assert parse_address("127.0.0.1:9100") == ("127.0.0.1", 9100)
    for bad in ("9090", "host:", "host:http", ":0", ":70000"):
        with pytest.raises(ValueError, match="host:port"):
            parse_address(bad)


def test_serves_process_metrics_and_the_version() -> None:
    port = free_port()
    serve(f"127.0.0.1:{port}")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'parley_operator_info{version="' in text
    assert "process_resident_memory_bytes" in text
