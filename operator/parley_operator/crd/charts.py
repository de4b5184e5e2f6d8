"""`python -m parley_operator.crd.charts [--check]`: the Helm charts' copies of the ChatPlatform API.

The models are the one source of truth; two chart files are derived from them and kept current by
this step (and by a test that runs it with --check):
- charts/parley-operator/crds/chatplatform.yaml: the CRD, byte for byte as crds/chatplatform.yaml;
- the `platform` section of charts/parley/values.schema.json: the ChatPlatform spec as JSON Schema for
  Helm, minus the connection settings the chart fills in itself, closed to unknown keys (a misspelt
  value fails `helm install` instead of being pruned silently by the apiserver).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

from parley_operator.crd.build import CRD_PATH, build_crd, render_crd_yaml

REPO = CRD_PATH.parents[1]
CHART_CRD_PATH = REPO / "charts" / "parley-operator" / "crds" / CRD_PATH.name
VALUES_SCHEMA_PATH = REPO / "charts" / "parley" / "values.schema.json"

# Spec fields the parley chart sets from its own connection values (in-cluster servers or existing
# Secrets), so they are not platform values: section -> fields (None: the whole section).
CHART_OWNED: dict[str, frozenset[str] | None] = {
    "postgres": None,
    "redis": None,
    "kafka": frozenset({"bootstrapServers"}),
    "s3": frozenset({"secretName", "endpointKey", "accessKeyKey", "secretKeyKey"}),
    "opensearch": frozenset({"secretName", "urlKey"}),
}

# Values of the chart's own about the ChatPlatform object (not its spec).
OBJECT_FIELDS: dict[str, Any] = {
    "name": {
        "description": "Name of the ChatPlatform; the release name when empty.",
        "type": "string",
        "maxLength": 40,
        "pattern": "^([a-z]([-a-z0-9]*[a-z0-9])?)?$",
    },
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
}

_MATCHES = re.compile(r"^self\.matches\('(?P<pattern>.*)'\)$")


def _to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A CRD schema node as plain JSON Schema: Kubernetes extensions and defaults dropped (the
    apiserver applies defaults), `self.matches(...)` rules as patterns, objects closed."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("default", "nullable"):
            continue
        if key == "properties":
            out[key] = {name: _to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _to_json_schema(value)
        elif key == "anyOf":
            out[key] = [_to_json_schema(option) for option in value]
        else:
            out[key] = copy.deepcopy(value)
    for rule in node.get("x-kubernetes-validations", []):
        match = _MATCHES.match(rule["rule"])
        if match and "pattern" not in out:
            out["pattern"] = match["pattern"]  # regex_rule forbids backslashes and quotes
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _drop_chart_owned(spec: dict[str, Any]) -> dict[str, Any]:
    props = spec["properties"]
    for section, fields in CHART_OWNED.items():
        if fields is None:
            props.pop(section, None)
            continue
        sub = props[section]
        for name in fields:
            sub["properties"].pop(name, None)
        sub["required"] = [r for r in sub.get("required", []) if r not in fields]
        if not sub["required"]:
            del sub["required"]
    # The chart always writes the sections it owns a part of, so none of them is required in values.
    spec["required"] = [r for r in spec.get("required", []) if r in props and r not in CHART_OWNED]
    return spec


def platform_values_schema() -> dict[str, Any]:
    """JSON Schema of the parley chart's `platform` values."""
    crd_spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec = _drop_chart_owned(_to_json_schema(crd_spec))
    spec["description"] = (
        "The ChatPlatform: its spec (generated from the CRD by `python -m parley_operator.crd.charts`; "
        "do not edit) without the connection settings, which come from the server sections."
    )
    spec["properties"] = {**copy.deepcopy(OBJECT_FIELDS), **spec["properties"]}
    return spec


def render_values_schema(current: str) -> str:
    """The chart's values schema with its `platform` section regenerated; the rest is hand-written."""
    schema = json.loads(current)
    schema["properties"]["platform"] = platform_values_schema()
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def stale_files() -> list[Path]:
    stale = []
    if not CHART_CRD_PATH.exists() or CHART_CRD_PATH.read_text() != render_crd_yaml():
        stale.append(CHART_CRD_PATH)
    current = VALUES_SCHEMA_PATH.read_text()
    if current != render_values_schema(current):
        stale.append(VALUES_SCHEMA_PATH)
    return stale


def write() -> list[Path]:
    CHART_CRD_PATH.write_text(render_crd_yaml())
    VALUES_SCHEMA_PATH.write_text(render_values_schema(VALUES_SCHEMA_PATH.read_text()))
    return [CHART_CRD_PATH, VALUES_SCHEMA_PATH]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if a chart's copy is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"{path} is stale: run python -m parley_operator.crd.charts", file=sys.stderr)
        return 1 if stale else 0
    for path in write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
