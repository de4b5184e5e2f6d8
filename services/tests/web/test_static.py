"""The web client's static server: files, the single-page fallback, cache headers, health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from parley.web.app import create_app
from parley.web.settings import WebSettings

INDEX = "<!doctype html><title>Parley</title><script type=module src=/assets/index-Ab12.js></script>"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-Ab12.js").write_text("console.log('parley')")
    (tmp_path / "robots.txt").write_text("User-agent: *\n")
    return tmp_path


async def client_for(dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(WebSettings(web_dist_dir=dist))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web") as client,
    ):
        yield client


@pytest.fixture
async def web(dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(dist):
        yield client


async def test_index_is_served_uncached_with_a_strict_policy(web: httpx.AsyncClient) -> None:
    response = await web.get("/")
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_hashed_assets_are_cached_for_a_year(web: httpx.AsyncClient) -> None:
    response = await web.get("/assets/index-Ab12.js")
    assert response.status_code == 200
    assert response.text == "console.log('parley')"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    # Conditional requests work (StaticFiles' ETag).
    again = await web.get("/assets/index-Ab12.js", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304


async def test_other_files_are_revalidated(web: httpx.AsyncClient) -> None:
    response = await web.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/chat", "/chats/0b0f/settings", "/login"])
async def test_client_routes_fall_back_to_index(web: httpx.AsyncClient, path: str) -> None:
    response = await web.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/assets/gone-1234.js", "/favicon.ico", "/missing/app.css"])
async def test_missing_files_are_404_not_index(web: httpx.AsyncClient, path: str) -> None:
    response = await web.get(path)
    assert response.status_code == 404
    assert INDEX not in response.text


async def test_no_path_escapes_the_build(web: httpx.AsyncClient, dist: Path) -> None:
    (dist.parent / "secret.txt").write_text("nope")
    response = await web.get("/../secret.txt")
    assert "nope" not in response.text
    response = await web.get("/assets/..%2F..%2Fsecret.txt")
    assert "nope" not in response.text


async def test_health_and_readiness(web: httpx.AsyncClient) -> None:
    assert (await web.get("/healthz")).json() == {"status": "ok", "checks": {}}
    assert (await web.get("/readyz")).json() == {"status": "ok", "checks": {"build": "ok"}}


async def test_not_ready_without_a_build(tmp_path: Path) -> None:
    async for web in client_for(tmp_path / "dist"):
        assert (await web.get("/healthz")).status_code == 200
        response = await web.get("/readyz")
        assert response.status_code == 503
        assert "no index.html in" in response.json()["checks"]["build"]
