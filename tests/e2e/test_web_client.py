"""The web client in a real browser against the dev stack (tests/e2e/web/chat.test.mjs).

The browser talks to one origin, as in a deployment: the entry point (Envoy) when the dev stack
has it, else `vite preview` of the same build with its proxy to the services (the paths and the
prefix rewrite the entry point does; see frontend/vite.config.ts). Screenshots are kept in
tests/e2e/web/artifacts (gitignored).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
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
    endpoints = dev_stack.up(SERVICES)
    if "envoy" in COMPONENTS:
        yield dev_stack.up(["envoy"])["envoy"]["url"]
        return
    with _preview(endpoints) as url:
        yield url


def test_two_people_chat_in_a_real_browser(dev_stack: Stack) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if "CHROMIUM" not in os.environ:
        system.ensure_debian_packages(BROWSER_PACKAGES, ARTIFACTS / "apt.log")
    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}"
    with _origin(dev_stack) as url:
        assert shutil.which("node"), "no node on PATH (svc-web needs Node 20.19+)"
        result = subprocess.run(
            ["node", "--test", "--test-reporter=spec", "--test-concurrency=1", str(SPEC / "chat.test.mjs")],
            cwd=ROOT,
            env={
                **os.environ,
                "PARLEY_WEB_URL": url,
                "CHROMIUM": CHROMIUM,
                "PARLEY_E2E_ARTIFACTS": str(ARTIFACTS),
            },
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    (ARTIFACTS / "node-test.log").write_text(result.stdout + result.stderr)
    print(result.stdout[-20000:], result.stderr[-5000:])
    assert result.returncode == 0, (
        f"browser tests failed (log: {ARTIFACTS / 'node-test.log'}):\n{result.stdout[-8000:]}"
    )
    passed = re.search(r"^\S+ pass (\d+)$", result.stdout, re.M)
    failed = re.search(r"^\S+ fail (\d+)$", result.stdout, re.M)
    assert passed and failed, "no summary from node --test"
    assert int(failed.group(1)) == 0 and int(passed.group(1)) >= 8
