"""Smoke tests: the dev stack's S3 server (versitygw) stores objects and honours presigned URLs."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import httpx
from miniopy_async.api import Minio


async def test_put_and_get_object(minio_client: Minio, s3_bucket: str) -> None:
    body = "hällo attachment\n".encode()
    await minio_client.put_object(
        s3_bucket,
        "rooms/r1/hello.txt",
        io.BytesIO(body),
        len(body),
        content_type="text/plain; charset=utf-8",
        metadata={"x-amz-meta-uploader": "u1"},
    )
    response = await minio_client.get_object(s3_bucket, "rooms/r1/hello.txt")
    try:
        assert await response.read() == body
    finally:
        response.close()
    stat = await minio_client.stat_object(s3_bucket, "rooms/r1/hello.txt")
    assert stat.size == len(body)
    assert stat.content_type == "text/plain; charset=utf-8"
    assert stat.metadata is not None and stat.metadata.get("x-amz-meta-uploader") == "u1"
    listed = [obj.object_name async for obj in minio_client.list_objects(s3_bucket, recursive=True)]
    assert listed == ["rooms/r1/hello.txt"]


async def test_multipart_upload(minio_client: Minio, s3_bucket: str) -> None:
    body = os.urandom(11 * 1024 * 1024)
    # 5 MiB parts (the S3 minimum) force three parts and CompleteMultipartUpload.
    await minio_client.put_object(
        s3_bucket, "big.bin", io.BytesIO(body), len(body), part_size=5 * 1024 * 1024
    )
    response = await minio_client.get_object(s3_bucket, "big.bin")
    try:
        assert await response.read() == body
    finally:
        response.close()


async def test_presigned_get_url(minio_client: Minio, s3_bucket: str) -> None:
    body = os.urandom(4096)
    await minio_client.put_object(s3_bucket, "blob.bin", io.BytesIO(body), len(body))
    url = await minio_client.presigned_get_object(s3_bucket, "blob.bin", expires=timedelta(minutes=5))
    async with httpx.AsyncClient(timeout=10) as http:
        fetched = await http.get(url)
        tampered = await http.get(url.replace("blob.bin", "other.bin"))
        unsigned = await http.get(url.split("?", 1)[0])
    assert fetched.status_code == 200
    assert fetched.content == body
    # The server checks the signature: the same URL for another key, or no signature, is refused.
    assert tampered.status_code == 403
    assert unsigned.status_code == 403


async def test_presigned_put_url(minio_client: Minio, s3_bucket: str) -> None:
    body = os.urandom(2048)
    url = await minio_client.presigned_put_object(s3_bucket, "upload.bin", expires=timedelta(minutes=5))
    async with httpx.AsyncClient(timeout=10) as http:
        uploaded = await http.put(url, content=body)
    assert uploaded.status_code == 200
    stat = await minio_client.stat_object(s3_bucket, "upload.bin")
    assert stat.size == len(body)
    response = await minio_client.get_object(s3_bucket, "upload.bin")
    try:
        assert await response.read() == body
    finally:
        response.close()


async def test_buckets_start_empty(minio_client: Minio, s3_bucket: str) -> None:
    assert await minio_client.bucket_exists(s3_bucket)
    assert [obj async for obj in minio_client.list_objects(s3_bucket, recursive=True)] == []
