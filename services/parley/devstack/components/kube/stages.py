"""What kwok does with the pods of Jobs: they finish, as a real kubelet running the container would.

kwok's default `pod-complete` stage makes every Running pod of a Job Succeeded. The dev cluster adds
one way to fail: a pod of a Job whose image tag contains `fail` (say `parley:1.1.0-fail`) ends
Failed with exit code 1. Tests use it to make a migration Job fail; nothing else names images so.
"""

from __future__ import annotations

from typing import Any

import yaml

# gojq, run by kwok on the pod: true for each container whose image tag (after the last ':' that is
# not part of a registry host:port) contains "fail".
FAILING_IMAGE_JQ = '.spec.containers.[].image | test(":[^/:]*fail[^/:]*$")'
COMPLETE_STAGE = "pod-complete"
FAIL_STAGE = "parley-job-pod-fail"

_FAILED_STATUS = """\
{{ $now := Now }}
containerStatuses:
{{ range $index, $item := .spec.containers }}
- image: {{ $item.image | Quote }}
  name: {{ $item.name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: 1
      finishedAt: {{ $now | Quote }}
      reason: Error
      startedAt: {{ $now | Quote }}
{{ end }}
phase: Failed
"""


def _failing(operator: str) -> dict[str, Any]:
    return {"jq": {"key": FAILING_IMAGE_JQ, "operator": operator, "values": ["true"]}}


def fail_stage() -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": FAIL_STAGE},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {
                "matchExpressions": [
                    {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                    {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                    {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": ["Job"]},
                    _failing("In"),
                ]
            },
            "next": {"statusTemplate": _FAILED_STATUS},
        },
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the status templates) as literal blocks, readable in the config file."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def with_job_outcomes(default_stages: str) -> str:
    """kwok's default stages (multi-document YAML) with `pod-complete` sparing failing images, plus
    the stage that fails them."""
    stages = [doc for doc in yaml.safe_load_all(default_stages) if doc]
    complete = [s for s in stages if s["metadata"]["name"] == COMPLETE_STAGE]
    if len(complete) != 1:
        raise ValueError(f"expected one {COMPLETE_STAGE} stage among kwok's defaults, found {len(complete)}")
    complete[0]["spec"]["selector"]["matchExpressions"].append(_failing("NotIn"))
    return yaml.dump_all([*stages, fail_stage()], Dumper=_Dumper, sort_keys=False)
