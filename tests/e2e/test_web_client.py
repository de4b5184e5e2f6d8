"""The web client in a real browser against the dev stack (tests/e2e/web/chat.test.mjs).

The browser talks to one origin, as in a deployment: the entry point (Envoy) when the dev stack
has it, else `vite preview` of the same build with its proxy to the services (the paths and the
prefix rewrite the entry point does; see frontend/vite.config.ts). Screenshots are kept in
tests/e2e/web/artifacts (gitignored).

Against another deployment: PARLEY_WEB_URL=<its origin> and, for the long chat's seeding,
PARLEY_E2E_POSTGRES_DSN=<its database>.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from parley.devstack import system
from parley.devstack.registry import COMPONENTS
from parley.devstack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
SPEC = ROOT / "tests" / "e2e" / "web"
ARTIFACTS = SPEC / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The browser, and a colour emoji font for what the screenshots show (reactions).
BROWSER_PACKAGES = {
    "chromium": "/usr/bin/chromium",
    "fonts-noto-color-emoji": "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
}
SERVICES = ["svc-auth", "svc-api", "svc-presence", "svc-consumer", "svc-socket", "svc-web"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")
        time.sleep(0.2)


@contextlib.contextmanager
def _preview(endpoints: dict[str, dict[str, str]]) -> Iterator[str]:
    """`vite preview` of frontend/dist, proxying to the stack's services: one origin."""
    port = _free_port()
    env = {
        **os.environ,
        "PARLEY_WEB_AUTH_URL": endpoints["svc-auth"]["url"],
        "PARLEY_WEB_API_URL": endpoints["svc-api"]["url"],
        "PARLEY_WEB_SOCKET_URL": endpoints["svc-socket"]["url"],
        "PARLEY_WEB_PRESENCE_URL": endpoints["svc-presence"]["url"],
    }
    vite = FRONTEND / "node_modules" / ".bin" / "vite"
    log = (ARTIFACTS / "vite-preview.log").open("wb")
    proc = subprocess.Popen(
        [str(vite), "preview", "--port", str(port), "--strictPort"],
        cwd=FRONTEND,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(url + "/", 60)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def _origin(dev_stack: Stack) -> Iterator[str]:
    given = os.environ.get("PARLEY_WEB_URL")
    if given:
        # An origin of the caller's (another deployment): used as it is.
        yield given
        return
    endpoints = dev_stack.up(SERVICES)
    if "envoy" in COMPONENTS:
        yield dev_stack.up(["envoy"])["envoy"]["url"]
        return
    with _preview(endpoints) as url:
        yield url


def _node_test(url: str, spec: str, log_name: str, extra_env: dict[str, str] | None = None) -> str:
    """Run one node --test file against the origin; its output, after checking everything passed."""
    assert shutil.which("node"), "no node on PATH (svc-web needs Node 20.19+)"
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", "--test-concurrency=1", str(SPEC / spec)],
        cwd=ROOT,
        env={
            **os.environ,
            "PARLEY_WEB_URL": url,
            "CHROMIUM": CHROMIUM,
            "PARLEY_E2E_ARTIFACTS": str(ARTIFACTS),
            **(extra_env or {}),
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    (ARTIFACTS / log_name).write_text(result.stdout + result.stderr)
    print(result.stdout[-20000:], result.stderr[-5000:])
    assert result.returncode == 0, f"{spec} failed (log: {ARTIFACTS / log_name}):\n{result.stdout[-8000:]}"
    return result.stdout


def seed_long_chat(url: str, dsn: str, count: int) -> dict[str, str]:
    """Two people with a direct chat of `count` messages, written straight into the database (the
    way bench/api.py seeds): the browser test is about reading them."""
    password = f"Tr0ub4dor-{uuid.uuid4().hex[:12]}"
    names = [f"long{i}_{uuid.uuid4().hex[:6]}" for i in range(2)]
    tokens = []
    with httpx.Client(base_url=url, headers={"Origin": url.rstrip("/")}, timeout=30) as http:
        for name in names:
            body = {"username": name, "email": f"{name}@example.test", "password": password}
            assert http.post("/auth/register", json=body).status_code == 201
            login = http.post("/auth/login", json={"login": name, "password": password})
            tokens.append(login.json()["access_token"])
        ids = [
            http.get("/api/users/me", headers={"Authorization": f"Bearer {t}"}).json()["id"] for t in tokens
        ]
        chat = http.post(
            "/api/chats/direct", json={"user_id": ids[1]}, headers={"Authorization": f"Bearer {tokens[0]}"}
        ).json()["id"]
    last = count + 1  # seq 1 is the chat's creation
    with psycopg.connect(dsn, autocommit=False) as conn:
        conn.execute(
            """
            INSERT INTO messages (chat_id, seq, sender_id, client_id, body, attachments, created_at)
            SELECT %(chat)s, s, CASE WHEN s %% 3 = 0 THEN %(a)s::uuid ELSE %(b)s::uuid END, 'seed.' || s,
                   'message ' || s || ' ' || repeat('lorem ipsum ', 1 + (s * 7) %% 9), '[]',
                   now() - (%(last)s - s) * interval '7 seconds'
            FROM generate_series(2, %(last)s) s
            """,
            {"chat": chat, "a": ids[0], "b": ids[1], "last": last},
        )
        conn.execute(
            "UPDATE chats SET last_seq = %(last)s, last_message_seq = %(last)s, last_activity_at = now() "
            "WHERE id = %(chat)s",
            {"chat": chat, "last": last},
        )
        conn.execute(
            "UPDATE chat_members SET last_read_seq = %(last)s WHERE chat_id = %(chat)s",
            {"chat": chat, "last": last},
        )
    return {
        "PARLEY_LONG_USER": names[0],
        "PARLEY_LONG_PASSWORD": password,
        "PARLEY_LONG_CHAT": chat,
        "PARLEY_LONG_LAST_SEQ": str(last),
    }


@pytest.fixture(scope="module")
def origin(dev_stack: Stack) -> Iterator[str]:
    """The one origin the browser talks to, with the browser installed."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if "CHROMIUM" not in os.environ:
        system.ensure_debian_packages(BROWSER_PACKAGES, ARTIFACTS / "apt.log")
    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}"
    with _origin(dev_stack) as url:
        yield url


def test_two_people_chat_in_a_real_browser(origin: str) -> None:
    out = _node_test(origin, "chat.test.mjs", "chat-test.log")
    passed = re.search(r"^\S+ pass (\d+)$", out, re.M)
    failed = re.search(r"^\S+ fail (\d+)$", out, re.M)
    assert passed and failed, "no summary from node --test"
    assert int(failed.group(1)) == 0 and int(passed.group(1)) >= 9


def test_a_chat_of_100000_messages_in_a_real_browser(origin: str, dev_stack: Stack) -> None:
    # The database of the services behind the origin (the dev stack's unless told otherwise).
    dsn = os.environ.get("PARLEY_E2E_POSTGRES_DSN") or dev_stack.up(["postgres"])["postgres"]["dsn"]
    env = seed_long_chat(origin, dsn, 100_000)
    out = _node_test(origin, "long-chat.test.mjs", "long-chat-test.log", env)
    assert re.search(r"^\S+ pass 3$", out, re.M) and re.search(r"^\S+ fail 0$", out, re.M)
