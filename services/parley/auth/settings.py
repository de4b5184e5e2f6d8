"""Settings of the auth service (on top of what every service has)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from parley.common.settings import BaseServiceSettings


class AuthSettings(BaseServiceSettings):
    service_name: str = "auth"
    deploy_required: ClassVar[frozenset[str]] = frozenset(
        {
            "service_name",
            "postgres_dsn",
            "redis_url",
            "redis_key_prefix",
            "auth_issuer",
            "auth_audience",
            "auth_signing_key",
            "auth_access_token_ttl_seconds",
            "auth_refresh_token_ttl_seconds",
        }
    )

    # Signing keys: a directory of PEM files (a mounted Secret), or one PEM in a variable or file
    # (PARLEY_AUTH_SIGNING_KEY / PARLEY_AUTH_SIGNING_KEY_FILE). With neither, an ephemeral key is
    # made at start-up: fine for a laptop, wrong for more than one replica.
    auth_signing_keys_dir: Path | None = None
    auth_signing_key: SecretStr | None = None
    auth_active_kid: str | None = Field(
        default=None, description="Which key signs; else the `active-kid` file, else the greatest kid."
    )
    auth_keys_reload_seconds: float = Field(default=30.0, gt=0)

    auth_access_token_ttl_seconds: int = Field(default=15 * 60, ge=30, le=24 * 3600)
    auth_refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)

    # argon2id cost; the defaults are RFC 9106's second recommended option.
    auth_argon2_time_cost: int = Field(default=3, ge=1)
    auth_argon2_memory_kib: int = Field(default=64 * 1024, ge=8)
    auth_argon2_parallelism: int = Field(default=4, ge=1)

    # Login throttling: failures counted in a fixed window, per login name and per client address.
    auth_throttle_window_seconds: int = Field(default=15 * 60, ge=1)
    auth_throttle_account_failures: int = Field(default=5, ge=1)
    auth_throttle_address_failures: int = Field(default=50, ge=1)
