"""Property-based run of the auth API against its own OpenAPI schema, on a real uvicorn server on
loopback: whatever schemathesis sends, the answer is documented and never a 5xx."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from parley.auth.app import create_app
from parley.auth.keys import generate_pem
from parley.auth.settings import AuthSettings
from parley.migrations import runner
from parley.testing.slices import delete_prefix, fresh_database, unique

from tests.auth.conftest import PASSWORD


class LiveServer:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token


def serve(app: object) -> tuple[uvicorn.Server, threading.Thread, str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="auth-under-test", daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.025)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def live(
    postgres_server: dict[str, str], redis_server: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    keys = tmp_path_factory.mktemp("keys")
    (keys / "k1.pem").write_bytes(generate_pem())
    prefix = unique("t:") + ":"
    with fresh_database(postgres_server) as dsn:
        runner.upgrade(dsn)
        app_settings = AuthSettings(
            postgres_dsn=dsn,
            redis_url=redis_server["url"],
            redis_key_prefix=prefix,
            auth_signing_keys_dir=keys,
            auth_argon2_time_cost=1,
            auth_argon2_memory_kib=256,
            auth_argon2_parallelism=1,
            max_body_bytes=64 * 1024,
        )
        server, thread, base_url = serve(create_app(app_settings))
        try:
            with httpx.Client(base_url=base_url) as client:
                body = {"username": "fuzzer", "email": "fuzzer@example.org", "password": PASSWORD}
                assert client.post("/auth/register", json=body).status_code == 201
                token = client.post("/auth/login", json={"login": "fuzzer", "password": PASSWORD}).json()
            yield LiveServer(base_url, token["access_token"])
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            asyncio.run(delete_prefix(redis_server["url"], prefix))


# The schema the app serves at /openapi.json; made without connecting to anything (the factory
# connects only in its lifespan). schemathesis's lazy from_fixture loader does not work with
# this pytest version, hence the schema at import time.
schema = schemathesis.openapi.from_dict(create_app(AuthSettings()).openapi())


SEMANTIC_RULES = {"/auth/register", "/auth/me/password"}


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, live: LiveServer) -> None:
    # These refuse some schema-valid bodies on purpose, with a documented 422: the password policy
    # and the username rules (scripts, look-alikes) are more than a JSON schema can say.
    semantic = case.operation.path in SEMANTIC_RULES
    case.call_and_validate(
        base_url=live.base_url,
        # A valid token on every call, so the authenticated operations are reached beyond their 401.
        headers={"Authorization": f"Bearer {live.token}"},
        excluded_checks=[schemathesis.checks.positive_data_acceptance] if semantic else None,
    )
