"""The dev stack's entry point: the address `make dev` prints serves the running services."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
from parley.devstack import ports
from parley.devstack.cli import app
from parley.devstack.stack import Stack
from typer.testing import CliRunner


def test_the_printed_address_routes_to_the_running_services(dev_stack: Stack) -> None:
    endpoints = dev_stack.up(["envoy"])["envoy"]
    url = endpoints["url"]
    assert url == f"http://127.0.0.1:{ports.ENVOY}/"
    auth = dev_stack.require(["svc-auth"])["svc-auth"]["url"]
    through = httpx.get(f"{url}.well-known/jwks.json", timeout=5).json()
    assert through == httpx.get(f"{auth}/.well-known/jwks.json", timeout=5).json()
    name = f"edge{uuid.uuid4().hex[:10]}"
    password = "correct horse battery staple"
    body = {"username": name, "email": f"{name}@example.org", "password": password}
    assert httpx.post(f"{url}auth/register", json=body, timeout=10).status_code == 201
    login = httpx.post(f"{url}auth/login", json={"login": name, "password": password}, timeout=10)
    token = login.json()["access_token"]
    assert httpx.get(f"{url}api/chats", timeout=5).status_code == 401  # the edge's JWT gate
    chats = httpx.get(f"{url}api/chats", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert chats.status_code == 200, chats.text
    # Its configuration is the operator's rendering with the dev stack's loopback ports.
    config = json.loads(Path(endpoints["config"]).read_text())
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    address = clusters["socket"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "127.0.0.1", "port_value": ports.SERVICES["socket"]}


def test_dev_up_ends_with_the_address_to_open(dev_stack: Stack) -> None:
    result = CliRunner().invoke(app, ["up", "envoy"])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().splitlines()[-1] == f"Parley is up: open http://127.0.0.1:{ports.ENVOY}/"
