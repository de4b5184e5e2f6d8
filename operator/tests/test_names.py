"""Names: per installation, within Kubernetes limits, stable."""

from __future__ import annotations

from parley_operator.names import Installation, dns_label, label_value


def test_installation_names() -> None:
    inst = Installation("chat", "acme")
    assert inst.service("socket") == "acme-socket"
    assert inst.service_url("auth") == "http://acme-auth.chat.svc"
    assert inst.prefix == "chat.acme"
    assert inst.topic("notifications.dlq") == "chat.acme.notifications.dlq.v1"
    assert inst.default_bucket == "parley-chat-acme"
    assert inst.migration_job("2.0.0+build.7") == "acme-migrate-2-0-0-build-7"
    assert (
        inst.owned_selector == "app.kubernetes.io/managed-by=parley-operator,app.kubernetes.io/instance=acme"
    )


def test_two_installations_share_no_external_name() -> None:
    a, b = Installation("team-a", "chat"), Installation("team-b", "chat")
    assert a.topic("events") != b.topic("events")
    assert a.default_bucket != b.default_bucket
    assert a.messages_alias != b.messages_alias


def test_long_labels_are_cut_with_a_hash_that_keeps_them_apart() -> None:
    long_a, long_b = "x" * 70 + "a", "x" * 70 + "b"
    assert len(dns_label(long_a)) == 63 and dns_label(long_a) != dns_label(long_b)
    assert dns_label("Parley_Chat.Team") == "parley-chat-team"
    assert dns_label(long_a) == dns_label(long_a)


def test_label_values_keep_dots_and_drop_what_labels_refuse() -> None:
    assert label_value("1.4.0") == "1.4.0"
    assert label_value("1.4.0+build.7") == "1.4.0_build.7"
    assert len(label_value("v" * 100)) == 63
