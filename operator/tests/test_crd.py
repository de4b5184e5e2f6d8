"""The committed CRD is the one the models generate, and it is a schema the apiserver accepts."""

from __future__ import annotations

from typing import Any

import yaml
from parley_operator.crd.build import CRD_PATH, build_crd, render_crd_yaml
from parley_operator.crd.schema import walk


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_committed_crd_matches_the_models() -> None:
    assert CRD_PATH.read_text() == render_crd_yaml(), "stale: run `python -m parley_operator.crd`"


def test_committed_crd_is_plain_yaml_without_anchors() -> None:
    text = CRD_PATH.read_text()
    assert "&id" not in text and "*id" not in text
    assert yaml.safe_load(text) == build_crd()


def test_names_scope_and_subresources() -> None:
    crd = build_crd()
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "chatplatforms.parley.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "ChatPlatform"
    assert spec["names"]["shortNames"] == ["chat", "cp"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    columns = {c["name"]: c for c in build_crd()["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert list(columns) == ["Phase", "Ready", "Version", "Endpoint", "Age"]
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Age"]["type"] == "date"


def test_schema_is_structural() -> None:
    """The rules of a structural schema that pydantic output breaks unless converted."""
    for path, node in walk(_schema()):
        assert "$ref" not in node and "$defs" not in node, path
        assert "title" not in node, path
        if "x-kubernetes-int-or-string" not in node and path != ".metadata":
            assert "type" in node, f"{path} has no type"
        if "properties" in node:
            assert "additionalProperties" not in node, path
        for option in node.get("anyOf", []):
            assert option.get("type") != "null", path
            assert "description" not in option and "default" not in option, path
        for name in node.get("required", []):
            assert name in node["properties"], f"{path}: required {name} is not a property"
            assert "default" not in node["properties"][name], f"{path}.{name} is required and defaulted"


def test_every_validation_rule_has_a_message_and_bounded_strings() -> None:
    rules = [
        (path, rule) for path, node in walk(_schema()) for rule in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) >= 10
    for path, rule in rules:
        assert rule["message"], path
        assert "\n" not in rule["message"], path
    # CEL's cost estimate needs a bound on every string a rule matches against.
    for path, node in walk(_schema()):
        if (
            any(r["rule"].startswith("self.matches(") for r in node.get("x-kubernetes-validations", []))
            and path
        ):
            assert "maxLength" in node, f"{path}: a matched string needs maxLength"


def test_defaults_cascade_from_empty_objects() -> None:
    """Nested objects default to {} so the apiserver fills their fields when the user omits them."""
    spec = _schema()["properties"]["spec"]
    assert set(spec["required"]) == {"version", "kafka", "postgres", "redis", "s3", "opensearch"}
    for name in ("image", "services", "auth", "notification", "observability"):
        assert spec["properties"][name]["default"] == {}, name
    topics = spec["properties"]["kafka"]["properties"]["topics"]
    # Each topic's default partitions sit on its own field, so a topic object given only some fields
    # (a replicationFactor) still gets its own partitions, not a shared field default.
    partitions = {
        name: (topic["default"], topic["properties"]["partitions"]["default"])
        for name, topic in topics["properties"].items()
    }
    assert partitions == {
        "commands": ({}, 12),
        "events": ({}, 12),
        "connections": ({}, 6),
        "presence": ({}, 6),
        "notifications": ({}, 6),
        "notificationsDlq": ({}, 1),
        "attachmentsJobs": ({}, 6),
    }
    assert "default" not in topics["properties"]["commands"]["properties"]["replicationFactor"]
    assert spec["properties"]["deletionPolicy"]["enum"] == ["Retain", "Delete"]
    assert spec["properties"]["deletionPolicy"]["default"] == "Retain"


def test_conditions_are_a_map_list_keyed_by_type() -> None:
    conditions = _schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) == {"type", "status", "reason", "lastTransitionTime"}


def test_the_platform_name_is_limited_so_children_names_fit() -> None:
    rule = _schema()["x-kubernetes-validations"][0]
    assert "size(self.metadata.name) <= 40" in rule["rule"]
    assert len("x" * 40 + "-notification") <= 63
