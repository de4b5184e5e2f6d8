"""The service's S3 operations, on miniopy-async (one client, one aiohttp session per app).

Presigned URLs are signed for the public endpoint (`server_url`): the host is part of a SigV4
signature, so a URL signed for the internal address would be refused when a browser uses it through
another one. Requests the service makes itself go to the internal endpoint.

ListMultipartUploads, CreateMultipartUpload, CompleteMultipartUpload, AbortMultipartUpload and
PutBucketCors have no public method in miniopy-async: the first four are its own underscored
methods, the last one a request through its `_execute` (the signing and error handling are the
library's all the same).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from miniopy_async.api import Minio
from miniopy_async.datatypes import Part
from miniopy_async.error import S3Error
from miniopy_async.helpers import md5sum_hash

from parley.storage.settings import StorageSettings

NOT_FOUND = frozenset({"NoSuchKey", "NoSuchUpload", "NoSuchBucket", "NotFound"})


def _client(settings: StorageSettings) -> Minio:
    url = urlsplit(settings.s3_endpoint)
    return Minio(
        url.netloc,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=url.scheme == "https",
        # Given, so no GetBucketLocation round trip (and presigning needs no request at all).
        region=settings.s3_region,
        server_url=settings.public_endpoint.rstrip("/"),
    )


class Store:
    def __init__(self, settings: StorageSettings) -> None:
        self.bucket = settings.s3_bucket
        self.client = _client(settings)

    async def close(self) -> None:
        await self.client.close_session()  # type: ignore[no-untyped-call]

    # --- the bucket -------------------------------------------------------------------------

    async def ensure_bucket(self, cors_origins: Sequence[str]) -> None:
        if not await self.client.bucket_exists(self.bucket):
            with contextlib.suppress(S3Error):  # made meanwhile by another replica
                await self.client.make_bucket(self.bucket)
        if cors_origins:
            await self.set_cors(cors_origins)

    async def set_cors(self, origins: Sequence[str]) -> None:
        """Browsers upload (PUT) straight to S3 and read each part's ETag to complete a multipart
        upload; downloads are plain redirects and need no CORS."""
        root = ET.Element("CORSConfiguration")
        rule = ET.SubElement(root, "CORSRule")
        for origin in origins:
            ET.SubElement(rule, "AllowedOrigin").text = origin
        for method in ("PUT", "GET", "HEAD"):
            ET.SubElement(rule, "AllowedMethod").text = method
        ET.SubElement(rule, "AllowedHeader").text = "*"
        ET.SubElement(rule, "ExposeHeader").text = "ETag"
        ET.SubElement(rule, "MaxAgeSeconds").text = "3600"
        body = ET.tostring(root)
        await self.client._execute(
            "PUT",
            self.bucket,
            body=body,
            headers={"Content-MD5": str(md5sum_hash(body)), "Content-Type": "application/xml"},
            query_params={"cors": ""},
        )

    # --- presigning (no request: local signing) ---------------------------------------------

    async def presign_put(self, key: str, expires: timedelta, *, now: datetime | None = None) -> str:
        return await self.client.get_presigned_url("PUT", self.bucket, key, expires, request_date=now)

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, expires: timedelta, *, now: datetime | None = None
    ) -> str:
        return await self.client.get_presigned_url(
            "PUT",
            self.bucket,
            key,
            expires,
            request_date=now,
            extra_query_params={"partNumber": str(part_number), "uploadId": upload_id},
        )

    async def presign_get(self, key: str, expires: timedelta, *, content_type: str, disposition: str) -> str:
        return await self.client.get_presigned_url(
            "GET",
            self.bucket,
            key,
            expires,
            response_headers={
                "response-content-type": content_type,
                "response-content-disposition": disposition,
            },
        )

    # --- multipart ----------------------------------------------------------------------------

    async def create_multipart(self, key: str, content_type: str) -> str:
        return await self.client._create_multipart_upload(self.bucket, key, {"Content-Type": content_type})

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        await self.client._complete_multipart_upload(
            self.bucket, key, upload_id, [Part(number, etag.strip('"')) for number, etag in parts]
        )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            await self.client._abort_multipart_upload(self.bucket, key, upload_id)
        except S3Error as exc:
            if exc.code not in NOT_FOUND:
                raise

    # --- objects ------------------------------------------------------------------------------

    async def size(self, key: str) -> int | None:
        """The stored object's size, None if there is none."""
        try:
            stat = await self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in NOT_FOUND:
                return None
            raise
        return int(stat.size or 0)

    async def head_bytes(self, key: str, length: int) -> bytes:
        response = await self.client.get_object(self.bucket, key, offset=0, length=length)
        try:
            return await response.read()
        finally:
            response.release()

    async def read(self, key: str) -> bytes:
        response = await self.client.get_object(self.bucket, key)
        try:
            return await response.read()
        finally:
            response.release()

    @contextlib.asynccontextmanager
    async def stream(self, key: str, chunk: int = 256 * 1024) -> AsyncIterator[AsyncIterator[bytes]]:
        response = await self.client.get_object(self.bucket, key)
        try:
            yield response.content.iter_chunked(chunk)
        finally:
            response.release()

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        import io

        await self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    async def remove(self, *keys: str) -> None:
        for key in keys:
            try:
                await self.client.remove_object(self.bucket, key)
            except S3Error as exc:
                if exc.code not in NOT_FOUND:
                    raise
