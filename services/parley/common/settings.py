"""Settings of every service: environment variables prefixed `PARLEY_`, and secrets from files.

A value is taken, highest priority first, from: keyword arguments (tests), `PARLEY_<NAME>`,
the file named by `PARLEY_<NAME>_FILE`, a file named `parley_<name>` in the secrets directory
(`PARLEY_SECRETS_DIR`, default /run/secrets/parley: where Kubernetes mounts a Secret volume),
then the field's default. Each service subclasses `BaseServiceSettings` with its own fields.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "PARLEY_"
DEFAULT_SECRETS_DIR = Path("/run/secrets/parley")
MiB = 1024 * 1024


class FileEnvSettingsSource(PydanticBaseSettingsSource):
    """`PARLEY_<NAME>_FILE=/path` reads the field's value from that file (trailing newline dropped),
    the convention of container images whose secrets arrive as mounted files."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        env_name = f"{ENV_PREFIX}{field_name.upper()}_FILE"
        path = os.environ.get(env_name)
        if not path:
            return None, field_name, False
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n"), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


SERVERS = frozenset({"redis_url", "redis_key_prefix", "kafka_bootstrap", "kafka_topic_prefix"})
TOKEN_CHECKS = frozenset({"auth_issuer", "auth_audience", "auth_jwks_url"})


class BaseServiceSettings(BaseSettings):
    """What every service needs: where the shared servers are and how tokens are verified."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False)

    deploy_required: ClassVar[frozenset[str]] = frozenset({"service_name", "postgres_dsn"})
    """Settings whose defaults suit only a laptop (servers on 127.0.0.1, prefixes every installation
    would share): a deployment must set each one. tests/contract checks that the operator renders
    them; each service's class names its own (the base class's are what `parley migrate` needs)."""

    service_name: str = "parley"
    log_level: str = Field(
        default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$", description="Level of the parley.* loggers."
    )
    postgres_dsn: SecretStr = SecretStr("postgresql://parley:parley@127.0.0.1:15432/parley")
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:16379/0")
    redis_key_prefix: str = Field(default="parley:", description="Prefix of every Redis key we write.")
    max_body_bytes: int = Field(default=1 * MiB, gt=0, description="Larger request bodies get 413.")
    # Observability (docs/observability.md).
    log_format: str = Field(
        default="json", pattern="^(json|text)$", description="JSON lines (with the trace id) or plain text."
    )
    trace_endpoint: str | None = Field(
        default=None,
        description="Where spans go: Zipkin's v2 spans URL (http://zipkin:9411/api/v2/spans) or an OTLP/HTTP "
        "traces URL (http://collector:4318/v1/traces, with trace_exporter=otlp); unset: no tracing at all.",
    )
    trace_exporter: str = Field(
        default="zipkin",
        pattern="^(zipkin|otlp)$",
        description="How `trace_endpoint` takes spans: Zipkin's v2 JSON API, or OTLP over HTTP (protobuf).",
    )
    trace_sample_ratio: float = Field(
        default=0.01, ge=0.0, le=1.0, description="Share of new traces recorded (children follow them)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDRs whose X-Forwarded-For is believed (the gateway, the ingress).",
    )

    # Token verification, the same in every service.
    auth_issuer: str = "http://127.0.0.1:8001"
    auth_audience: str = "parley"
    auth_jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300)
    auth_jwks_cache_seconds: int = Field(default=300, ge=1)

    # Kafka: the topic names derive from the prefix (see parley.common.topics).
    kafka_bootstrap: str = Field(default="127.0.0.1:19092", description="Comma-separated host:port list.")
    kafka_topic_prefix: str = Field(
        default="parley",
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="`<namespace>.<platform>` on Kubernetes; anything unique per installation locally.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            FileEnvSettingsSource(settings_cls),
        ]
        secrets_dir = Path(os.environ.get(f"{ENV_PREFIX}SECRETS_DIR", DEFAULT_SECRETS_DIR))
        # Only when present: pydantic-settings warns about a missing directory, and most
        # processes (tests, the dev stack) have none.
        if secrets_dir.is_dir():
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir))
        return tuple(sources)
