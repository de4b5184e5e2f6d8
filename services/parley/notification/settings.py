"""Settings of the notification service (on top of what every service has)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from parley.common.settings import SERVERS, TOKEN_CHECKS, BaseServiceSettings


class NotificationSettings(BaseServiceSettings):
    service_name: str = "notification"
    deploy_required: ClassVar[frozenset[str]] = (
        frozenset({"service_name", "postgres_dsn", "notification_public_url", "notification_token_secret"})
        | SERVERS
        | TOKEN_CHECKS
    )

    notification_delay_seconds: float = Field(
        default=300, ge=0, le=86400, description="How long a group message may stay unread before we tell."
    )
    notification_urgent_delay_seconds: float = Field(
        default=60,
        ge=0,
        le=86400,
        description="The same for direct messages and mentions (sooner than ordinary group traffic).",
    )
    notification_digest_interval_seconds: float = Field(
        default=900,
        gt=0,
        le=86400,
        description="At most one email per user per interval; what comes later waits for the next one.",
    )
    notification_tick_seconds: float = Field(
        default=5, gt=0, le=300, description="How often due notifications are looked for."
    )
    notification_public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="The origin users open (links back to chats, the unsubscribe link).",
    )
    notification_token_secret: SecretStr = Field(
        default=SecretStr("dev-only-unsubscribe-secret-change-me"),
        description="Signs the one-click unsubscribe tokens (HMAC-SHA256).",
    )
    notification_batch: int = Field(default=200, ge=1, le=10_000, description="Users planned per step.")
    notification_senders: int = Field(default=4, ge=1, le=64, description="Mails sent at once.")
    notification_max_attempts: int = Field(
        default=8, ge=1, le=100, description="Temporary failures before a notification goes to the DLQ."
    )
    notification_retry_max_seconds: float = Field(
        default=300, gt=0, description="Longest wait between tries."
    )
    notification_consumer_batch: int = Field(default=500, ge=1, le=10_000)
    notification_max_backoff_seconds: float = Field(default=30.0, gt=0)

    notification_email_enabled: bool = Field(
        default=True, description="Send email digests (off when the platform names no SMTP server)."
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=11025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_seconds: float = Field(default=15, gt=0)
    smtp_from: str = "Parley <notifications@parley.test>"

    sms_provider: Literal["none", "smpp"] = Field(
        default="none", description="Where SMS go: an SMSC over SMPP 3.4, or nowhere."
    )
    smpp_host: str = "127.0.0.1"
    smpp_port: int = Field(default=12775, ge=1, le=65535)
    smpp_system_id: str = Field(default="parley", max_length=15)
    smpp_password: SecretStr = SecretStr("parley")
    smpp_source_address: str = Field(default="Parley", max_length=20, description="The sender shown.")
    smpp_timeout_seconds: float = Field(default=15, gt=0)
