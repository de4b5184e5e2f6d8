"""The installation's S3 bucket, with a lifecycle rule that aborts abandoned multipart uploads.

Pure parts (endpoint parsing, the lifecycle merge) are separate from `S3Bucket`, the thin client part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from miniopy_async.api import Minio
from miniopy_async.commonconfig import ENABLED, Filter
from miniopy_async.deleteobjects import DeleteObject
from miniopy_async.error import S3Error
from miniopy_async.lifecycleconfig import AbortIncompleteMultipartUpload, LifecycleConfig, Rule

from parley_operator.api.spec import ChatPlatformSpec
from parley_operator.api.status import InfrastructureProblem
from parley_operator.names import Installation
from parley_operator.provision.errors import InfraError, unreachable

LIFECYCLE_RULE_ID = "parley-abort-incomplete-uploads"


@dataclass(frozen=True)
class BucketWant:
    name: str
    region: str
    abort_after_days: int


@dataclass(frozen=True)
class S3Credentials:
    endpoint: str
    access_key: str
    secret_key: str


def wanted_bucket(spec: ChatPlatformSpec, inst: Installation) -> BucketWant:
    return BucketWant(
        spec.s3.bucket or inst.default_bucket, spec.s3.region, spec.s3.abort_incomplete_uploads_after_days
    )


def endpoint_parts(url: str) -> tuple[str, bool]:
    """`http://127.0.0.1:9000` -> ("127.0.0.1:9000", False): the client wants host and TLS apart."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InfraError("s3", "InvalidEndpoint", f"S3 endpoint is not an http(s) URL: {url!r}")
    return parts.netloc, parts.scheme == "https"


def our_rule(days: int) -> Rule:
    return Rule(
        ENABLED,
        abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(days),
        rule_filter=Filter(prefix=""),
        rule_id=LIFECYCLE_RULE_ID,
    )


def merged_lifecycle(existing: Sequence[Rule], days: int) -> list[Rule] | None:
    """The bucket's rules with ours set to `days`, others kept; None when nothing would change."""
    ours = [r for r in existing if r.rule_id == LIFECYCLE_RULE_ID]
    if len(ours) == 1 and ours[0].status == ENABLED:
        current = ours[0].abort_incomplete_multipart_upload
        if current is not None and current.days_after_initiation == days:
            return None
    return [*(r for r in existing if r.rule_id != LIFECYCLE_RULE_ID), our_rule(days)]


def lifecycle_unsupported(want: BucketWant) -> InfrastructureProblem:
    # Some S3 servers have no lifecycle API; the bucket works, abandoned uploads just stay.
    return InfrastructureProblem(
        component="s3",
        reason="LifecycleUnsupported",
        message=(
            f"the S3 server does not implement bucket lifecycle: abandoned multipart uploads in "
            f"{want.name} are not aborted after {want.abort_after_days} day(s)"
        ),
        blocking=False,
    )


class S3Bucket:
    def __init__(self, credentials: S3Credentials, region: str, timeout: float = 20.0) -> None:
        self.endpoint, self.secure = endpoint_parts(credentials.endpoint)
        self.credentials = credentials
        self.region = region
        self.timeout = timeout

    def _client(self) -> Minio:
        return Minio(
            self.endpoint,
            access_key=self.credentials.access_key,
            secret_key=self.credentials.secret_key,
            secure=self.secure,
            region=self.region,
        )

    async def ensure(self, want: BucketWant) -> list[InfrastructureProblem]:
        """Creates the bucket and sets the lifecycle rule; returns what the server declined."""
        try:
            async with asyncio.timeout(self.timeout), self._client() as client:
                if not await client.bucket_exists(want.name):
                    await client.make_bucket(want.name, location=want.region)
                try:
                    current = await client.get_bucket_lifecycle(want.name)
                    rules = merged_lifecycle(current.rules if current else [], want.abort_after_days)
                    if rules is not None:
                        await client.set_bucket_lifecycle(want.name, LifecycleConfig(rules))
                except S3Error as error:
                    if error.code != "NotImplemented":
                        raise
                    return [lifecycle_unsupported(want)]
                return []
        except InfraError:
            raise
        except Exception as error:
            raise unreachable("s3", error) from error

    async def delete(self, name: str) -> None:
        """Every object, then the bucket (S3 removes only empty buckets)."""
        try:
            async with asyncio.timeout(self.timeout * 10), self._client() as client:
                if not await client.bucket_exists(name):
                    return
                objects = await client.list_objects(name, recursive=True)
                doomed = [DeleteObject(cast(str, obj.object_name)) for obj in objects]
                failures = [str(err) async for err in client.remove_objects(name, doomed)]
                if failures:
                    raise InfraError("s3", "BucketNotEmptied", f"could not delete objects: {failures[:3]}")
                await client.remove_bucket(name)
        except InfraError:
            raise
        except Exception as error:
            raise unreachable("s3", error) from error
