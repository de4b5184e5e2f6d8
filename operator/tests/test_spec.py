"""The spec models: defaults, the full spec, and the rules that refuse bad specs."""

from __future__ import annotations

from typing import Any

import pytest
from chatplatform_specs import BAD_SPECS, FULL, MINIMAL, REQUIRED, with_change
from parley_operator.api.durations import parse_duration
from parley_operator.api.spec import SERVICE_NAMES, DeletionPolicy, parse_spec
from pydantic import ValidationError


def test_required_fields_alone_give_a_complete_spec() -> None:
    spec = parse_spec(REQUIRED)
    assert spec.deletion_policy is DeletionPolicy.RETAIN
    assert spec.image_ref == "parley:1.4.0"
    assert set(spec.services.by_name()) == set(SERVICE_NAMES)
    assert all(s.replicas == 2 and s.autoscaling is None for s in spec.services.by_name().values())
    assert spec.kafka.topics.commands.partitions == 12
    assert spec.kafka.topics.notifications_dlq.partitions == 1
    assert spec.kafka.topics.events.replication_factor is None  # the cluster's brokers, at most 3


def test_a_topic_given_only_its_replication_factor_keeps_its_partitions() -> None:
    only_replicas = {
        name: {"replicationFactor": 1} for name in ("commands", "events", "presence", "notificationsDlq")
    }
    spec = parse_spec({**REQUIRED, "kafka": {**REQUIRED["kafka"], "topics": only_replicas}})
    topics = spec.kafka.topics
    assert (topics.commands.partitions, topics.events.partitions) == (12, 12)
    assert (topics.presence.partitions, topics.notifications_dlq.partitions) == (6, 1)
    assert topics.commands.replication_factor == 1 and topics.connections.replication_factor is None
    assert spec.auth.signing_key.secret_name is None
    assert spec.ingress is None


def test_full_spec_parses_with_every_option() -> None:
    spec = parse_spec(FULL)
    assert spec.image_ref == "registry.example/parley:1.4.0-rc1"
    socket = spec.services.socket
    assert socket.autoscaling is not None and socket.autoscaling.target_connections_per_pod == 5000
    assert spec.services.socket.resources.limits["memory"] == 1073741824
    assert spec.ingress is not None and spec.ingress.tls is not None
    assert spec.auth.signing_key.secret_name == "acme-jwt"


def test_minimal_spec_parses() -> None:
    assert parse_spec(MINIMAL).services.gateway.replicas == 1


@pytest.mark.parametrize(("title", "spec", "message"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_spec_is_refused_with_its_message(title: str, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_spec(spec)
    assert message in str(caught.value), title


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("kafka.bootstrapServers", "no-port"),
        ("services.gateway.replicas", -1),
        ("services.gateway.podDisruptionBudget", {"maxUnavailable": 0}),
        ("deletionPolicy", "Orphan"),
        ("ingress", {"host": "Not A Host"}),
        ("kafka.topics.commands.partitions", 0),
        ("services.gateway.resources", {"requests": {"cpu": "lots"}}),
        ("s3.bucket", "UPPER"),
        ("unknownField", 1),
    ],
)
def test_schema_constraints_refuse_out_of_range_values(path: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        parse_spec(with_change(REQUIRED, path, value))


def test_connections_target_is_only_known_to_socket() -> None:
    spec = with_change(
        REQUIRED, "services.api.autoscaling", {"maxReplicas": 3, "targetConnectionsPerPod": 10}
    )
    with pytest.raises(ValidationError):
        parse_spec(spec)


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("1h30m", 5400), ("720h", 2_592_000), ("250ms", 0.25)]
)
def test_durations_parse_like_go(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "15", "1d", "m15", "-5m"])
def test_durations_refuse_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_every_service_takes_its_entry_and_an_unknown_one_is_refused() -> None:
    entries = {name: {"replicas": 2} for name in SERVICE_NAMES}
    services = parse_spec(with_change(REQUIRED, "services", entries)).services
    assert {name: svc.replicas for name, svc in services.by_name().items()} == dict.fromkeys(SERVICE_NAMES, 2)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        parse_spec(with_change(REQUIRED, "services", {"searhc": {}}))


def test_trusted_proxies_default_to_the_private_ranges_and_refuse_a_bad_address() -> None:
    spec = parse_spec(REQUIRED)
    assert spec.entry_point.trusted_proxies == [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    ]
    narrowed = parse_spec(with_change(REQUIRED, "entryPoint.trustedProxies", ["fd00::/8"]))
    assert narrowed.entry_point.trusted_proxies == ["fd00::/8"]
    # The CRD's pattern checks the shape only; the operator refuses an address that is not one.
    with pytest.raises(ValueError, match="must be a CIDR"):
        parse_spec(with_change(REQUIRED, "entryPoint.trustedProxies", ["10.0.0.300/8"]))
