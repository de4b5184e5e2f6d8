"""The charts' copies of the ChatPlatform API are generated from the operator's models, never edited:
the CRD in the operator chart is byte for byte crds/chatplatform.yaml, and the parley chart's values
schema for `platform` is the CRD's spec schema without the connection settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chartkit import OPERATOR_CHART, PLATFORM_CHART, REPO
from parley_operator.crd import charts
from parley_operator.crd.build import CRD_PATH, build_crd, render_crd_yaml


def test_the_operator_chart_ships_the_generated_crd_unchanged() -> None:
    chart_copy = (OPERATOR_CHART / "crds" / "chatplatform.yaml").read_text()
    assert chart_copy == CRD_PATH.read_text(), "stale chart CRD: run `make crds`"
    assert chart_copy == render_crd_yaml(), "stale CRD: run `make crds`"
    assert CRD_PATH == REPO / "crds" / "chatplatform.yaml"


def test_the_chart_copies_are_current() -> None:
    assert charts.stale_files() == [], "run `make crds`"
    assert charts.main(["--check"]) == 0


def test_a_drifted_copy_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crd_copy, schema_copy = tmp_path / "crd.yaml", tmp_path / "values.schema.json"
    crd_copy.write_text(render_crd_yaml().replace("minimum: 0", "minimum: 1", 1))
    schema = json.loads((PLATFORM_CHART / "values.schema.json").read_text())
    schema["properties"]["platform"]["properties"]["services"]["additionalProperties"] = True
    schema_copy.write_text(json.dumps(schema, indent=2) + "\n")
    monkeypatch.setattr(charts, "CHART_CRD_PATH", crd_copy)
    monkeypatch.setattr(charts, "VALUES_SCHEMA_PATH", schema_copy)
    assert charts.stale_files() == [crd_copy, schema_copy]
    assert charts.main(["--check"]) == 1
    charts.write()
    assert charts.stale_files() == []


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        found += _walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found += _walk(node["items"], f"{path}[]")
    return found


def test_platform_values_are_the_crd_spec_without_the_connections() -> None:
    platform = charts.platform_values_schema()
    crd_spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    props = platform["properties"]
    assert "postgres" not in props and "redis" not in props
    assert "bootstrapServers" not in props["kafka"]["properties"]
    assert "secretName" not in props["s3"]["properties"] and "bucket" in props["s3"]["properties"]
    assert set(props["opensearch"]["properties"]) == {"numberOfShards", "numberOfReplicas"}
    assert {"name", "labels", "annotations"} <= set(props)
    assert platform["required"] == ["version"]
    replicas = props["services"]["properties"]["gateway"]["properties"]["replicas"]
    assert (
        replicas["minimum"]
        == crd_spec["properties"]["services"]["properties"]["gateway"]["properties"]["replicas"]["minimum"]
    )
    # CEL `matches` rules become JSON Schema patterns Helm can check.
    assert props["version"]["pattern"].startswith("^v?[0-9]+")
    tls = props["ingress"]["properties"]["tls"]
    assert tls["required"] == ["secretName"] and "pattern" in tls["properties"]["secretName"]


def test_every_platform_object_is_closed_and_free_of_kubernetes_extensions() -> None:
    for path, node in _walk(charts.platform_values_schema()):
        assert not [k for k in node if k.startswith("x-kubernetes-")], path
        assert "default" not in node, path
        if "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
