"""Uploads through presigned URLs as a browser makes them, against the dev stack's real S3 server,
Kafka (the job topic), PostgreSQL and clamd; downloads only for the chat's members."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from parley.devstack.components.clamav import EICAR
from parley.storage.service import Storage
from parley.testing.waiting import eventually
from PIL import Image

from tests.factories import MakePeople
from tests.storage.conftest import (
    MiB,
    jpeg_with_gps,
    make_chat,
    png,
    png_header_only,
    row,
    settled,
    upload,
)


async def test_a_picture_goes_up_is_previewed_stripped_and_read_by_the_uploader(
    app: FastAPI, client: httpx.AsyncClient, browser: httpx.AsyncClient, make_people: MakePeople
) -> None:
    ann, bob, eve = await make_people("ann", "bob", "eve")
    chat = await make_chat(app, ann, bob)
    done, plan = await upload(client, browser, ann, chat, jpeg_with_gps(), "image/jpeg", "holiday.jpg")
    assert plan["upload"]["kind"] == "single"
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "scanning"
    info = await settled(client, ann, done.json()["id"])
    assert info["status"] == "ready", info
    assert info["scanned"] is True and info["has_preview"] is True
    # The EXIF orientation (rotate 90) was applied: 80x60 became 60x80.
    assert (info["width"], info["height"]) == (60, 80)

    redirect = await client.get(f"/attachments/{info['id']}", headers=ann.auth)
    assert redirect.status_code == 302
    assert redirect.headers["cache-control"] == "private, no-store"
    got = await browser.get(redirect.headers["location"])
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-disposition"].startswith("inline;")
    stored = Image.open(io.BytesIO(got.content))
    assert stored.size == (60, 80)
    assert not stored.getexif(), "EXIF (GPS, camera) survived"
    assert b"SecretCam" not in got.content

    thumb = await client.get(f"/attachments/{info['id']}?variant=thumbnail", headers=ann.auth)
    image = Image.open(io.BytesIO((await browser.get(thumb.headers["location"])).content))
    assert image.format == "JPEG" and max(image.size) <= 256 and not image.getexif()

    # Not on a message yet: only the uploader sees it; a non-member never does.
    for person in (bob, eve):
        assert (await client.get(f"/attachments/{info['id']}", headers=person.auth)).status_code == 404
        assert (await client.get(f"/attachments/{info['id']}/info", headers=person.auth)).status_code == 404


async def test_multipart_upload_as_a_browser_makes_it(
    app: FastAPI, client: httpx.AsyncClient, browser: httpx.AsyncClient, make_people: MakePeople
) -> None:
    (ann,) = await make_people("ann")
    chat = await make_chat(app, ann)
    data = (b"0123456789abcdef" * 65536) * 6 + b"tail"  # 6 MiB + 4 bytes: two 5 MiB parts
    done, plan = await upload(client, browser, ann, chat, data, "text/plain", "notes.txt")
    assert plan["upload"]["kind"] == "multipart" and len(plan["upload"]["parts"]) == 2
    assert done.status_code == 200, done.text
    info = await settled(client, ann, done.json()["id"])
    assert info["status"] == "ready" and info["scanned"] and info["size"] == len(data)
    redirect = await client.get(f"/attachments/{info['id']}", headers=ann.auth)
    got = await browser.get(redirect.headers["location"])
    assert got.content == data
    # Text could be anything a browser renders: it is downloaded, never shown.
    assert got.headers["content-disposition"].startswith("attachment;")


async def test_an_expired_upload_url_is_refused_by_the_s3_server(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    storage: Storage = app.state.storage
    signed_long_ago = datetime.now(UTC) - timedelta(minutes=10)
    url = await storage.store.presign_put("a/expired-test", timedelta(seconds=60), now=signed_long_ago)
    put = await browser.put(url, content=b"too late")
    assert put.status_code == 403, put.text
    assert await storage.store.size("a/expired-test") is None


async def test_a_type_mismatch_is_refused_and_the_object_deleted(
    app: FastAPI, client: httpx.AsyncClient, browser: httpx.AsyncClient, make_people: MakePeople
) -> None:
    (ann,) = await make_people("ann")
    chat = await make_chat(app, ann)
    done, _ = await upload(client, browser, ann, chat, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "image/png")
    assert done.status_code == 422
    assert done.json()["error"]["code"] == "type_mismatch"
    assert done.json()["error"]["details"] == {"declared": "image/png", "found": "application/pdf"}
    attachment = await row(app, done.url.path.split("/")[2])
    assert attachment.status == "failed" and attachment.failure == "type_mismatch"
    assert await app.state.storage.store.size(attachment.object_key) is None


async def test_limits_quota_types_and_membership_are_checked_before_any_url(
    app: FastAPI, client: httpx.AsyncClient, browser: httpx.AsyncClient, make_people: MakePeople
) -> None:
    ann, eve = await make_people("ann", "eve")
    chat = await make_chat(app, ann)

    def new(size: int, content_type: str = "application/zip", chat_id: uuid.UUID = chat) -> dict[str, object]:
        return {"chat_id": str(chat_id), "file_name": "f.zip", "size": size, "content_type": content_type}

    too_big = await client.post("/attachments", json=new(8 * MiB + 1), headers=ann.auth)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "file_too_large"
    html = await client.post("/attachments", json=new(10, "text/html"), headers=ann.auth)
    assert html.status_code == 415
    svg = await client.post("/attachments", json=new(10, "image/svg+xml"), headers=ann.auth)
    assert svg.status_code == 415
    stranger = await client.post("/attachments", json=new(10), headers=eve.auth)
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "chat_not_found"
    nobody = await client.post("/attachments", json=new(10))
    assert nobody.status_code == 401
    # Quota 12 MiB: 8 MiB in flight (not even uploaded) counts; another 5 MiB does not fit.
    first = await client.post("/attachments", json=new(8 * MiB), headers=ann.auth)
    assert first.status_code == 201
    over = await client.post("/attachments", json=new(5 * MiB), headers=ann.auth)
    assert over.status_code == 409 and over.json()["error"]["code"] == "quota_exceeded"
    # The announced size binds: more bytes than announced are refused at completion.
    created = await client.post("/attachments", json=new(4, "text/plain"), headers=ann.auth)
    put = await browser.put(created.json()["upload"]["url"], content=b"more than four bytes")
    assert put.status_code == 200
    refused = await client.post(
        f"/attachments/{created.json()['attachment']['id']}/complete", headers=ann.auth
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "size_mismatch"


async def test_hostile_files_fail_their_attachment_and_never_the_worker(
    app: FastAPI, client: httpx.AsyncClient, browser: httpx.AsyncClient, make_people: MakePeople
) -> None:
    (ann,) = await make_people("ann")
    chat = await make_chat(app, ann)
    # A decompression bomb: a PNG saying 100000 x 100000 pixels (10 GP; the limit is 4 MP) in 100 bytes.
    bomb = png_header_only(100_000, 100_000)
    truncated = png(300, 300)[:200]
    expected = {
        "bomb.png": (bomb, "image/png", "image_too_large"),
        "cut.png": (truncated, "image/png", "image_unreadable"),
        "eicar.txt": (EICAR, "text/plain", "malware"),
    }
    ids = {}
    for name, (data, content_type, _) in expected.items():
        done, _ = await upload(client, browser, ann, chat, data, content_type, name)
        assert done.status_code == 200, (name, done.text)
        ids[name] = done.json()["id"]
    for name, (_, _, reason) in expected.items():
        info = await settled(client, ann, ids[name])
        assert (info["status"], info["failure"]) == ("failed", reason), name
        # The row says failed before the objects are removed: the object goes a moment later.
        key = (await row(app, ids[name])).object_key
        await eventually(
            lambda key=key: app.state.storage.store.size(key), lambda size: size is None, within=10, what=name
        )
    # And the loop still works.
    done, _ = await upload(client, browser, ann, chat, png(), "image/png", "fine.png")
    assert (await settled(client, ann, done.json()["id"]))["status"] == "ready"
    assert app.state.jobs.task is not None and not app.state.jobs.task.done()


async def test_the_bucket_lets_the_web_clients_origin_upload_and_read_etags(
    app: FastAPI, browser: httpx.AsyncClient
) -> None:
    storage: Storage = app.state.storage
    await storage.store.set_cors(["http://127.0.0.1:8080"])
    url = await storage.store.presign_put("a/cors-test", timedelta(minutes=5))
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}
    allowed = await browser.options(url, headers={"Origin": "http://127.0.0.1:8080", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://127.0.0.1:8080"
    assert "PUT" in allowed.headers["access-control-allow-methods"]
    assert "etag" in allowed.headers["access-control-expose-headers"].lower()
    other = await browser.options(url, headers={"Origin": "http://elsewhere.test", **preflight})
    assert "access-control-allow-origin" not in other.headers
