"""Every value is documented (`## @param` in values.yaml) and every documented key is one the schema
knows; the schemas reject keys they do not know, at every level."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartkit import OPERATOR_CHART, PLATFORM_CHART

CHARTS = [OPERATOR_CHART, PLATFORM_CHART]
PARAM = re.compile(r"^\s*## @param (?P<key>[\w.]+) \S")


def documented(chart: Path) -> set[str]:
    return {m["key"] for line in (chart / "values.yaml").read_text().splitlines() if (m := PARAM.match(line))}


def leaves(values: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the values' leaves (an empty map or list is a leaf: it is documented by its own
    @param or by those of the keys it may hold)."""
    if isinstance(values, dict) and values:
        return [leaf for k, v in values.items() for leaf in leaves(v, f"{prefix}{k}.")]
    return [prefix.rstrip(".")]


def schema_node(schema: dict[str, Any], key: str) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for part in key.split("."):
        if node is None:
            return None
        if "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
        node = node.get("properties", {}).get(part)
    return node


def load_schema(chart: Path) -> dict[str, Any]:
    return json.loads((chart / "values.schema.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_every_value_is_documented(chart: Path) -> None:
    docs = documented(chart)
    values = yaml.safe_load((chart / "values.yaml").read_text())
    undocumented = [
        leaf
        for leaf in leaves(values)
        if not any(leaf == d or leaf.startswith(d + ".") or d.startswith(leaf + ".") for d in docs)
    ]
    assert undocumented == []


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_every_documented_key_is_in_the_schema(chart: Path) -> None:
    schema = load_schema(chart)
    assert [key for key in sorted(documented(chart)) if schema_node(schema, key) is None] == []


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_the_schema_accepts_no_unknown_keys(chart: Path) -> None:
    def walk(node: dict[str, Any], path: str) -> list[str]:
        open_objects = (
            [path] if "properties" in node and node.get("additionalProperties") is not False else []
        )
        for name, sub in node.get("properties", {}).items():
            open_objects += walk(sub, f"{path}.{name}")
        return open_objects

    schema = load_schema(chart)
    roots = [("", schema)] + [(f"#{name}", d) for name, d in schema.get("definitions", {}).items()]
    assert [p for path, node in roots for p in walk(node, path)] == []
