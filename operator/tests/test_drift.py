"""Which children a pass may leave alone: those whose live object already holds the rendering."""

from __future__ import annotations

import copy
from typing import Any

from chatplatform_specs import FULL, NAME, NAMESPACE
from parley_operator.api.spec import parse_spec
from parley_operator.drift import holds, up_to_date
from parley_operator.names import Installation
from parley_operator.render import RenderInput, render_all


def as_served(rendered: dict[str, Any]) -> dict[str, Any]:
    """What the apiserver gives back: the rendering plus defaults, identity and status."""
    live = copy.deepcopy(rendered)
    live["metadata"] |= {"uid": "u-1", "resourceVersion": "42", "creationTimestamp": "2026-01-01T00:00:00Z"}
    live["metadata"]["managedFields"] = [{"manager": "parley-operator", "operation": "Apply"}]
    live["status"] = {"observedGeneration": 1}
    if rendered["kind"] == "Deployment":
        live["spec"]["progressDeadlineSeconds"] = 600
        container = live["spec"]["template"]["spec"]["containers"][0]
        container["terminationMessagePath"] = "/dev/termination-log"
        container["readinessProbe"]["httpGet"]["scheme"] = "HTTP"
    if rendered["kind"] == "Service":
        live["spec"] |= {"clusterIP": "10.0.0.9", "type": "ClusterIP"}
    return live


def rendered_children() -> list[dict[str, Any]]:
    return render_all(RenderInput.steady(parse_spec(FULL), Installation(NAMESPACE, NAME))).apply


def test_every_child_as_the_apiserver_serves_it_is_up_to_date() -> None:
    for child in rendered_children():
        assert up_to_date(child, as_served(child)), f"{child['kind']}/{child['metadata']['name']}"


def test_a_missing_or_deleting_child_is_applied() -> None:
    child = rendered_children()[0]
    assert not up_to_date(child, None)
    deleting = as_served(child)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    assert not up_to_date(child, deleting)


def test_hand_edits_of_rendered_fields_are_drift() -> None:
    service = next(c for c in rendered_children() if c["kind"] == "Service")
    edited = as_served(service)
    edited["spec"]["ports"][0]["port"] = 8080
    assert not up_to_date(service, edited)
    added = as_served(service)
    added["spec"]["ports"].append({"name": "debug", "port": 9000})
    assert not up_to_date(service, added)
    relabelled = as_served(service)
    del relabelled["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    assert not up_to_date(service, relabelled)


def test_foreign_additions_outside_rendered_lists_do_not_matter() -> None:
    deployment = next(c for c in rendered_children() if c["kind"] == "Deployment")
    live = as_served(deployment)
    live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "3"
    assert up_to_date(deployment, live)


def test_values_compare_with_their_types() -> None:
    assert holds({"a": 1}, {"a": 1, "b": 2})
    assert not holds({"a": 1}, {"a": "1"})
    assert not holds({"a": True}, {"a": 1})
    assert holds({"a": {}, "b": [], "c": None}, {})
    assert not holds({"a": [1, 2]}, {"a": [2, 1]})
    assert not holds({"a": [1]}, {"a": "1"})
