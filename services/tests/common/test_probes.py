"""The probes the operator renders, on every service run as a real process (`python -m parley serve`):
`/healthz` answers while the process works, `/readyz` answers 200 while the dev stack's servers are up
and 503 naming the dependency when one is unreachable (a closed loopback port; the shared servers are
never stopped)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from parley.common.kafka import ensure_topics
from parley.common.topics import Topics
from parley.serve import SERVICES
from parley.testing.jwks import JwksServer
from parley.testing.processes import ServiceProcess, free_port
from parley.testing.tokens import ISSUER, Signer

# What each service's /readyz checks: True where a failure takes the pod out, False where it is only
# reported (the api's outbox and presence's stale state ride out Redis or Kafka being away).
DEPENDENCIES: dict[str, dict[str, bool]] = {
    "auth": {"postgres": True, "redis": True},
    "api": {"postgres": True, "redis": False, "kafka": False},
    # commands: the socket's command producer is usable (the broker answers and the commands topic
    # exists); it is rebuilt without a restart when it breaks (issue 18).
    "socket": {"postgres": True, "redis": True, "kafka": True, "commands": True},
    "consumer": {"postgres": True, "redis": True, "kafka": True},
    "presence": {"redis": True, "kafka": False},
    # Uploads wait in `scanning` while Kafka is away; no clamd is configured here.
    "storage": {"postgres": True, "s3": True, "kafka": False},
    "search": {"postgres": True, "opensearch": True, "kafka": False},
    "notification": {"postgres": True, "redis": True, "kafka": False},
}


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    with JwksServer(Signer("probes-key")) as server:
        yield server.url


@pytest.fixture
async def base_env(
    migrated_dsn: str,
    redis_url: str,
    redis_prefix: str,
    kafka_bootstrap: str,
    kafka_topic_prefix: str,
    jwks_url: str,
    s3_server: dict[str, str],
    s3_bucket: str,
    opensearch_url: str,
    opensearch_prefix: str,
) -> dict[str, str]:
    topics = Topics(kafka_topic_prefix + "probes")
    await ensure_topics(kafka_bootstrap, topics.all(), partitions=1)
    return {
        "PARLEY_POSTGRES_DSN": migrated_dsn,
        "PARLEY_REDIS_URL": redis_url,
        "PARLEY_REDIS_KEY_PREFIX": redis_prefix,
        "PARLEY_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "PARLEY_KAFKA_TOPIC_PREFIX": kafka_topic_prefix + "probes",
        "PARLEY_AUTH_ISSUER": ISSUER,
        "PARLEY_AUTH_JWKS_URL": jwks_url,
        "PARLEY_S3_ENDPOINT": s3_server["endpoint"],
        "PARLEY_S3_ACCESS_KEY": s3_server["access_key"],
        "PARLEY_S3_SECRET_KEY": s3_server["secret_key"],
        "PARLEY_S3_BUCKET": s3_bucket,
        "PARLEY_OPENSEARCH_URL": opensearch_url,
        "PARLEY_SEARCH_INDEX_PREFIX": opensearch_prefix.rstrip("-"),
        "PARLEY_NOTIFICATION_TOKEN_SECRET": "probes-token-secret",
        "PARLEY_NOTIFICATION_PUBLIC_URL": "http://127.0.0.1:8080",
    }


def unreachable_env() -> dict[str, str]:
    """Every server at a loopback port nothing listens on (bound, then closed: refused at once)."""
    return {
        "PARLEY_POSTGRES_DSN": f"postgresql://parley:parley@127.0.0.1:{free_port()}/parley",
        "PARLEY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "PARLEY_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "PARLEY_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "PARLEY_OPENSEARCH_URL": f"http://127.0.0.1:{free_port()}",
    }


def start_all(
    env: dict[str, str], log_dir: Path, env_of: dict[str, dict[str, str]] | None = None
) -> dict[str, ServiceProcess]:
    more = env_of or {}
    procs = {
        service: ServiceProcess(service, {**env, **more.get(service, {})}, log_dir)
        for service in DEPENDENCIES
    }
    try:
        for proc in procs.values():
            proc.spawn()
        for proc in procs.values():
            proc.wait_healthy(90)
    except BaseException:
        for proc in procs.values():
            proc.stop()
        raise
    return procs


def readiness(proc: ServiceProcess, want_ok: bool, timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
    """The first /readyz answer that has checked every dependency and says what `want_ok` expects
    (the socket tells the result of checks it runs every second; a fresh process may still be
    connecting); the last answer if none did in time."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{proc.url}/readyz", timeout=5)
        body = response.json()
        checked = set(body["checks"]) == set(DEPENDENCIES[proc.service])
        required_ok = all(
            body["checks"][dep] == "ok" for dep, req in DEPENDENCIES[proc.service].items() if req
        )
        if (checked and required_ok == want_ok) or time.monotonic() > deadline:
            return response.status_code, body
        time.sleep(0.2)


def test_every_service_has_its_checks_listed() -> None:
    # The web client's server has no server to depend on, only its build (services/tests/web).
    assert set(DEPENDENCIES) == set(SERVICES) - {"web"}


def test_ready_while_the_servers_answer(base_env: dict[str, str], tmp_path: Path) -> None:
    procs = start_all(base_env, tmp_path)
    try:
        for service, proc in procs.items():
            status, body = readiness(proc, want_ok=True)
            assert (status, body) == (
                200,
                {"status": "ok", "checks": dict.fromkeys(DEPENDENCIES[service], "ok")},
            ), proc.log_tail()
            live = httpx.get(f"{proc.url}/healthz", timeout=5)
            assert live.status_code == 200
            assert live.json()["status"] == "ok"
    finally:
        for proc in procs.values():
            proc.stop()


def test_not_ready_and_why_when_the_servers_are_unreachable(base_env: dict[str, str], tmp_path: Path) -> None:
    env = {**base_env, **unreachable_env()}
    # The socket does not start without Redis (it subscribes before it listens): its Redis stays up.
    procs = start_all(env, tmp_path, env_of={"socket": {"PARLEY_REDIS_URL": base_env["PARLEY_REDIS_URL"]}})
    try:
        for service, proc in procs.items():
            status, body = readiness(proc, want_ok=False)
            assert status == 503, (service, body, proc.log_tail())
            assert body["status"] == "unavailable"
            # Every unreachable dependency is named with a reason, the optional ones too (reported,
            # not counted); the reachable ones say ok.
            for dep in DEPENDENCIES[service]:
                reachable = service == "socket" and dep == "redis"
                assert (body["checks"][dep] == "ok") == reachable, (service, dep, body)
                assert body["checks"][dep], (service, dep, body)
            # Liveness is the process's own: it stays up while the servers are away.
            assert httpx.get(f"{proc.url}/healthz", timeout=5).status_code == 200, service
        # A request that needs the servers is a retryable 503, not a 500 (issue 18).
        login = httpx.post(
            f"{procs['auth'].url}/auth/login", json={"login": "ada", "password": "x"}, timeout=10
        )
        assert login.status_code == 503, login.text
        assert login.json()["error"]["code"] == "unavailable"
        assert login.headers["retry-after"] == "1"
    finally:
        for proc in procs.values():
            proc.stop()


def test_optional_dependencies_are_reported_without_failing_readiness(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    """Kafka away: the api and presence stay in their Services (and say Kafka is away), the socket
    and the consumer, which cannot work without it, leave theirs."""
    env = {**base_env, "PARLEY_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    procs = start_all(env, tmp_path)
    try:
        for service, proc in procs.items():
            if "kafka" not in DEPENDENCIES[service]:
                continue
            required = DEPENDENCIES[service]["kafka"]
            deadline = time.monotonic() + 30
            while True:
                response = httpx.get(f"{proc.url}/readyz", timeout=5)
                body = response.json()
                if body["checks"].get("kafka", "ok") != "ok" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert body["checks"]["kafka"] != "ok", (service, body)
            assert response.status_code == (503 if required else 200), (service, body)
            # (the socket's command producer cannot work without Kafka either)
            others = {dep: state for dep, state in body["checks"].items() if dep not in ("kafka", "commands")}
            assert set(others.values()) == {"ok"}, (service, body)
    finally:
        for proc in procs.values():
            proc.stop()
