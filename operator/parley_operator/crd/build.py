"""The ChatPlatform CustomResourceDefinition, generated from the API models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from parley_operator.api import GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from parley_operator.api.spec import ChatPlatformSpec
from parley_operator.api.status import ChatPlatformStatus
from parley_operator.crd.schema import structural_schema

CRD_PATH = Path(__file__).resolve().parents[3] / "crds" / "chatplatform.yaml"

# Service names are DNS-1035 labels of at most 63 characters: `<platform>-notification` is the longest.
MAX_NAME = 40
NAME_RULE = {
    "rule": (
        "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')"
        f" && size(self.metadata.name) <= {MAX_NAME}"
    ),
    "message": (
        f"metadata.name must start with a letter, hold only lowercase letters, digits and '-', "
        f"and be at most {MAX_NAME} characters (it prefixes every child's name)"
    ),
}

PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Version", "type": "string", "jsonPath": ".status.version"},
    {"name": "Endpoint", "type": "string", "jsonPath": ".status.endpoint"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

HEADER = (
    "# Generated from operator/parley_operator/api by `python -m parley_operator.crd`; do not edit.\n"
    "# A test fails when this file and the models disagree.\n"
)


def build_crd() -> dict[str, Any]:
    spec = structural_schema(ChatPlatformSpec)
    status = {
        "description": "Observed state, written by the operator.",
        **structural_schema(ChatPlatformStatus),
    }
    schema = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "x-kubernetes-validations": [NAME_RULE],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "parley-operator", "app.kubernetes.io/part-of": "parley"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["parley"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


class _NoAliases(yaml.SafeDumper):
    """Shared sub-dicts stay written out in full: anchors would make the CRD hard to read."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_crd_yaml() -> str:
    return HEADER + yaml.dump(build_crd(), Dumper=_NoAliases, sort_keys=False, width=110)
