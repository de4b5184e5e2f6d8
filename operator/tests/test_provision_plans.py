"""The pure halves of the provisioners: topic plans, lifecycle merge, index steps, endpoints."""

from __future__ import annotations

import pytest
from chatplatform_specs import FULL, MINIMAL, REQUIRED
from miniopy_async.commonconfig import DISABLED, ENABLED, Filter
from miniopy_async.lifecycleconfig import AbortIncompleteMultipartUpload, Expiration, Rule
from parley_operator.api.spec import parse_spec
from parley_operator.names import Installation
from parley_operator.provision.errors import InfraError, unreachable
from parley_operator.provision.kafka import (
    ExistingTopic,
    TopicWant,
    config_drift,
    existing_topics,
    plan_topics,
    replication_problems,
    shrink_problems,
    wanted_topics,
)
from parley_operator.provision.opensearch import template_body, wanted_index
from parley_operator.provision.s3 import (
    LIFECYCLE_RULE_ID,
    endpoint_parts,
    merged_lifecycle,
    wanted_bucket,
)

INST = Installation("chat", "acme")


def test_topics_are_named_per_installation_and_sized_from_the_spec() -> None:
    wants = {w.name: w for w in wanted_topics(parse_spec(FULL), INST)}
    assert sorted(wants) == sorted(
        f"chat.acme.{t}.v1"
        for t in (
            "commands",
            "events",
            "connections",
            "presence",
            "notifications",
            "notifications.dlq",
            "attachments.jobs",
        )
    )
    commands = wants["chat.acme.commands.v1"]
    assert (commands.partitions, commands.replication_factor) == (24, None)
    configs = commands.configs(commands.replicas(brokers=5))
    assert configs["retention.ms"] == str(168 * 3_600_000)
    assert configs["min.insync.replicas"] == "2"
    single = {w.name: w for w in wanted_topics(parse_spec(MINIMAL), INST)}["chat.acme.events.v1"]
    configs = single.configs(single.replicas(brokers=5))
    assert configs["min.insync.replicas"] == "1" and "retention.ms" not in configs


def test_an_unset_replication_factor_follows_the_brokers_up_to_three() -> None:
    wants = {w.name: w for w in wanted_topics(parse_spec(REQUIRED), INST)}
    events = wants["chat.acme.events.v1"]
    assert events.replication_factor is None
    assert [events.replicas(brokers) for brokers in (1, 2, 3, 7)] == [1, 2, 3, 3]
    assert events.configs(1)["min.insync.replicas"] == "1"
    assert events.configs(3)["min.insync.replicas"] == "2"


def test_replication_factor_drift_is_reported_only_against_a_stated_factor() -> None:
    wants = [TopicWant("stated", 6, 3), TopicWant("chosen", 6, None), TopicWant("fine", 6, 1)]
    existing = {name: ExistingTopic(6, 1) for name in ("stated", "chosen", "fine")}
    (problem,) = replication_problems(wants, existing)
    assert (problem.reason, problem.blocking) == ("ReplicationFactorDrift", False)
    assert "stated has replication factor 1, the spec asks for 3" in problem.message


def test_topic_plan_creates_grows_and_refuses_to_shrink() -> None:
    wants = [TopicWant("a", 6, 3), TopicWant("b", 12, 3), TopicWant("c", 2, 3), TopicWant("d", 4, 3)]
    plan = plan_topics(wants, {"b": 6, "c": 8, "d": 4, "unrelated": 1})
    assert [w.name for w in plan.create] == ["a"]
    assert [(w.name, have) for w, have in plan.grow] == [("b", 6)]
    assert [(w.name, have) for w, have in plan.refuse_shrink] == [("c", 8)]
    assert [w.name for w in plan.keep] == ["d"]
    (problem,) = shrink_problems(plan)
    assert problem.reason == "PartitionShrinkRefused" and not problem.blocking
    assert "c has 8 partitions" in problem.message and "keeping 8" in problem.message


def test_config_drift_names_only_what_differs() -> None:
    want = {"retention.ms": "100", "cleanup.policy": "delete"}
    assert config_drift(want, {"retention.ms": "100", "cleanup.policy": "delete", "other": "x"}) == {}
    assert config_drift(want, {"retention.ms": "200"}) == {"retention.ms": "100", "cleanup.policy": "delete"}


def test_existing_topics_skips_unknown_topics() -> None:
    metadata = [
        {
            "topic": "a",
            "error_code": 0,
            "partitions": [{"replicas": [1, 2]}, {"replicas": [2, 3]}, {"replicas": [3, 1]}],
        },
        {"topic": "gone", "error_code": 3, "partitions": []},
    ]
    assert existing_topics(metadata) == {"a": ExistingTopic(3, 2)}


def test_bucket_name_defaults_per_installation() -> None:
    assert wanted_bucket(parse_spec(REQUIRED), INST).name == "parley-chat-acme"
    full = wanted_bucket(parse_spec(FULL), INST)
    assert (full.name, full.region, full.abort_after_days) == ("acme-attachments", "eu-central-1", 3)


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("http://127.0.0.1:9000", ("127.0.0.1:9000", False)),
        ("https://s3.example", ("s3.example", True)),
        ("s3.example:443", ("s3.example:443", True)),
    ],
)
def test_endpoint_parts(url: str, parts: tuple[str, bool]) -> None:
    assert endpoint_parts(url) == parts


def test_endpoint_that_is_not_http_is_an_infrastructure_error() -> None:
    with pytest.raises(InfraError) as caught:
        endpoint_parts("ftp://s3.example")
    assert caught.value.problem().reason == "InvalidEndpoint"


def _rule(rule_id: str, days: int, status: str = ENABLED) -> Rule:
    return Rule(
        status,
        abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(days),
        rule_filter=Filter(prefix=""),
        rule_id=rule_id,
    )


def test_lifecycle_is_added_beside_the_bucket_owners_rules() -> None:
    theirs = Rule(
        ENABLED, expiration=Expiration(days=30), rule_filter=Filter(prefix="tmp/"), rule_id="theirs"
    )
    rules = merged_lifecycle([theirs], 1)
    assert rules is not None
    assert [r.rule_id for r in rules] == ["theirs", LIFECYCLE_RULE_ID]
    ours = rules[1].abort_incomplete_multipart_upload
    assert ours is not None and ours.days_after_initiation == 1


def test_lifecycle_is_left_alone_when_already_right_and_fixed_when_not() -> None:
    assert merged_lifecycle([_rule(LIFECYCLE_RULE_ID, 3)], 3) is None
    changed = merged_lifecycle([_rule(LIFECYCLE_RULE_ID, 7)], 3)
    assert changed is not None and len(changed) == 1
    assert merged_lifecycle([_rule(LIFECYCLE_RULE_ID, 3, DISABLED)], 3) is not None


def test_index_names_and_template() -> None:
    want = wanted_index(parse_spec(MINIMAL), INST)
    assert (want.alias, want.pattern) == ("chat.acme.messages", "chat.acme.messages-*")
    body = template_body(want)
    assert body["index_patterns"] == ["chat.acme.messages-*"]
    # Settings only: the mapping is the search service's (one definition, docs/search.md).
    assert body["template"] == {"settings": {"number_of_shards": 1, "number_of_replicas": 0}}


def test_client_errors_become_problems_naming_the_server() -> None:
    problem = unreachable("kafka", ConnectionRefusedError("refused")).problem()
    assert (problem.component, problem.reason, problem.blocking) == ("kafka", "KafkaUnavailable", True)
    assert "refused" in problem.message
    assert unreachable("s3", TimeoutError()).problem().message.endswith("TimeoutError")


def test_connection_failures_and_refusals_get_different_reasons() -> None:
    assert unreachable("opensearch", OSError("no route")).reason == "OpenSearchUnavailable"
    refused = unreachable("kafka", ValueError("bad argument"))
    assert refused.reason == "KafkaError" and "ValueError: bad argument" in refused.message
