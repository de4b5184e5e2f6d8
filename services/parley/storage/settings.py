"""Settings of the storage service (on top of what every service has)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from parley.common.settings import SERVERS, TOKEN_CHECKS, BaseServiceSettings, MiB

GiB = 1024 * MiB


class StorageSettings(BaseServiceSettings):
    service_name: str = "storage"
    deploy_required: ClassVar[frozenset[str]] = (
        frozenset(
            {
                "service_name",
                "postgres_dsn",
                "s3_endpoint",
                "s3_access_key",
                "s3_secret_key",
                "s3_bucket",
            }
        )
        | (SERVERS - {"redis_url", "redis_key_prefix"})
        | TOKEN_CHECKS
    )

    # S3: the service talks to `s3_endpoint`; the URLs it hands to clients are signed for
    # `s3_public_endpoint` (where browsers reach the same server), which a signature covers.
    s3_endpoint: str = Field(default="http://127.0.0.1:19000", description="Where the service reaches S3.")
    s3_public_endpoint: str = Field(
        default="",
        description="Where clients reach S3 (the presigned URLs' origin); empty: s3_endpoint.",
    )
    s3_access_key: SecretStr = SecretStr("parley-dev")
    s3_secret_key: SecretStr = SecretStr("parley-dev-secret")
    s3_region: str = "us-east-1"
    s3_bucket: str = Field(default="parley-attachments", min_length=3, max_length=63)
    s3_create_bucket: bool = Field(
        default=False,
        description="Create the bucket and set its CORS at start (the operator does on Kubernetes).",
    )
    s3_set_cors: bool = Field(
        default=False,
        description="Set the bucket's CORS rule (s3_cors_origins) at start; s3_create_bucket does too.",
    )
    s3_cors_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8080", "http://localhost:8080"],
        description="Origins a browser may upload from straight to S3 (the bucket's CORS rule).",
    )

    # Limits.
    storage_max_file_bytes: int = Field(default=100 * MiB, gt=0, description="Per file.")
    storage_quota_bytes: int = Field(
        default=2 * GiB, gt=0, description="Per uploader, every live attachment."
    )
    storage_uploads_per_minute: int = Field(default=60, gt=0, description="Per uploader.")
    storage_multipart_threshold_bytes: int = Field(
        default=16 * MiB, ge=5 * MiB, description="Files from this size on are uploaded in parts."
    )
    storage_part_bytes: int = Field(
        default=8 * MiB, ge=5 * MiB, description="Size of each part (S3: 5 MiB at least)."
    )
    storage_upload_url_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    storage_download_url_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)

    # Scanning and previews.
    storage_clamd_address: str = Field(
        default="",
        description="clamd's host:port (INSTREAM); empty: attachments are not scanned (marked so).",
    )
    storage_clamd_timeout_seconds: float = Field(default=60.0, gt=0)
    storage_max_image_pixels: int = Field(default=40_000_000, gt=0, description="Larger images are refused.")
    storage_max_image_bytes: int = Field(default=30 * MiB, gt=0, description="Larger images get no preview.")
    storage_job_concurrency: int = Field(default=4, ge=1, le=64)

    # The sweeper.
    storage_upload_ttl_seconds: int = Field(
        default=24 * 3600, ge=1, description="Uploads not completed by then are removed."
    )
    storage_job_retry_seconds: int = Field(
        default=300, ge=1, description="A job not done by then is queued again."
    )
    storage_sweep_seconds: float = Field(default=60.0, gt=0)
    storage_max_backoff_seconds: float = Field(default=30.0, gt=0)
    storage_db_pool_size: int = Field(default=10, ge=1, le=200)

    @property
    def public_endpoint(self) -> str:
        return self.s3_public_endpoint or self.s3_endpoint
