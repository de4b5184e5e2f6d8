"""S3 helpers for tests: a client for the dev stack's S3 server and a bucket that is wiped afterwards."""

from __future__ import annotations

from urllib.parse import urlsplit

from miniopy_async.api import Minio
from miniopy_async.deleteobjects import DeleteObject


def minio_client(endpoints: dict[str, str]) -> Minio:
    """A client for the `s3` component's endpoints; close it with `await client.close_session()`."""
    url = urlsplit(endpoints["endpoint"])
    return Minio(
        url.netloc,
        access_key=endpoints["access_key"],
        secret_key=endpoints["secret_key"],
        secure=url.scheme == "https",
        # Giving the region saves a GetBucketLocation round trip before every first request.
        region=endpoints.get("region", "us-east-1"),
    )


async def remove_bucket(client: Minio, bucket: str) -> None:
    """Abort unfinished multipart uploads, delete every object, then the bucket itself."""
    if not await client.bucket_exists(bucket):
        return
    # miniopy-async exposes ListMultipartUploads/AbortMultipartUpload only as these methods.
    uploads = await client._list_multipart_uploads(bucket)
    for upload in uploads.uploads:
        if upload.object_name is not None and upload.upload_id is not None:
            await client._abort_multipart_upload(bucket, upload.object_name, upload.upload_id)
    names = [obj.object_name async for obj in client.list_objects(bucket, recursive=True)]
    doomed = [DeleteObject(name) for name in names if name is not None]
    if doomed:
        errors = [error async for error in client.remove_objects(bucket, doomed)]
        if errors:
            raise RuntimeError(f"could not empty bucket {bucket}: {errors}")
    await client.remove_bucket(bucket)
