"""Names and labels of everything one installation owns, inside and outside the cluster.

Every name is derived from the namespace and the ChatPlatform's name, so two installations never share a
topic, bucket, index or Kubernetes object.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MANAGER = "parley-operator"
"""Field manager of every server-side apply, and the managed-by label."""
PART_OF = "parley"
HTTP_PORT = 8000
SERVICE_PORT = 80

TOPICS = (
    "commands",
    "events",
    "connections",
    "presence",
    "notifications",
    "notifications.dlq",
    "attachments.jobs",
)
"""Topic suffixes (DESIGN.md); the spec's `notificationsDlq` is the `notifications.dlq` topic."""
TOPIC_VERSION = "v1"

_MAX_LABEL = 63


def _hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def dns_label(text: str, limit: int = _MAX_LABEL) -> str:
    """`text` made a DNS-1123 label; when too long, cut and suffixed with a hash of the whole so that
    two long names stay apart."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if len(label) <= limit:
        return label
    return f"{label[: limit - 9].rstrip('-')}-{_hash(text)}"


def label_value(text: str) -> str:
    """`text` as a label value (letters, digits, '-', '_', '.'; at most 63): for people reading labels;
    exact values that matter go in annotations."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.-")
    return value[:_MAX_LABEL].rstrip("_.-")


VERSION_ANNOTATION = "parley.dev/version"
IMAGE_ANNOTATION = "parley.dev/image"
CONFIG_HASH_ANNOTATION = "parley.dev/config-hash"


@dataclass(frozen=True)
class Installation:
    """One ChatPlatform: where it lives and what it is called."""

    namespace: str
    name: str

    # -- Kubernetes objects ------------------------------------------------------------------------
    def service(self, service: str) -> str:
        return f"{self.name}-{service}"

    def service_url(self, service: str) -> str:
        return f"http://{self.service(service)}.{self.namespace}.svc"

    @property
    def config_map(self) -> str:
        return f"{self.name}-config"

    @property
    def service_account(self) -> str:
        return self.name

    @property
    def signing_key_secret(self) -> str:
        return f"{self.name}-signing-key"

    @property
    def notification_token_secret(self) -> str:
        """The generated key the notification service signs unsubscribe links with."""
        return f"{self.name}-notification-token"

    @property
    def ingress(self) -> str:
        return self.name

    def migration_job(self, version: str) -> str:
        return dns_label(f"{self.name}-migrate-{version.replace('.', '-').replace('+', '-')}")

    def network_policy(self, purpose: str) -> str:
        return f"{self.name}-{purpose}"

    # -- outside the cluster -----------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        """Prefix of topics and indices: `<namespace>.<platform>`."""
        return f"{self.namespace}.{self.name}"

    def topic(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}.{TOPIC_VERSION}"

    @property
    def default_bucket(self) -> str:
        return dns_label(f"parley-{self.namespace}-{self.name}")

    @property
    def messages_alias(self) -> str:
        return f"{self.prefix}.messages"

    @property
    def messages_template(self) -> str:
        return f"{self.prefix}.messages"

    @property
    def messages_pattern(self) -> str:
        return f"{self.prefix}.messages-*"

    def messages_index(self, generation: int = 1) -> str:
        return f"{self.prefix}.messages-{generation:06d}"

    # -- labels ------------------------------------------------------------------------------------
    def selector(self, component: str | None = None) -> dict[str, str]:
        """Labels that select this installation's pods (immutable in a Deployment: no version here)."""
        labels = {"app.kubernetes.io/name": PART_OF, "app.kubernetes.io/instance": self.name}
        if component is not None:
            labels["app.kubernetes.io/component"] = component
        return labels

    def labels(self, component: str | None = None, version: str | None = None) -> dict[str, str]:
        """The recommended labels (app.kubernetes.io/*) of every child."""
        labels = {
            **self.selector(component),
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": MANAGER,
        }
        if version is not None:
            labels["app.kubernetes.io/version"] = label_value(version)
        return labels

    @property
    def owned_selector(self) -> str:
        """Label selector (string form) of every child this installation owns."""
        return f"app.kubernetes.io/managed-by={MANAGER},app.kubernetes.io/instance={self.name}"
