"""Helpers of the chart tests: running helm against the dev control plane and asking the apiserver
to accept rendered objects (server-side dry run)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError
from parley.devstack.components.kube import modulecrds
from parley.testing import waiting
from parley.testing.chatplatforms import install_crd
from parley_operator.api.spec import Topics

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
OPERATOR_CHART = CHARTS / "parley-operator"
PLATFORM_CHART = CHARTS / "parley"
CRD_NAME = "chatplatforms.parley.dev"
TEST_MANAGER = "parley-chart-tests"


def values_files(chart: Path) -> list[Path | None]:
    """The chart's default values (None) and every values file under its ci/ folder."""
    return [None, *sorted((chart / "ci").glob("*.yaml"))]


def values_id(path: Path | None) -> str:
    return "defaults" if path is None else path.stem


@dataclass
class Helm:
    binary: Path
    kubeconfig: Path
    home: Path
    """Helm's cache, config and data directories: the tests' own, never the user's."""

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args], env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    @staticmethod
    def value_args(values: Path | None = None, sets: Sequence[str] = ()) -> list[str]:
        args = ["-f", str(values)] if values is not None else []
        for item in sets:
            args += ["--set", item]
        return args

    def template(
        self,
        chart: Path,
        namespace: str,
        kube_version: str,
        values: Path | None = None,
        sets: Sequence[str] = (),
        release: str = "t",
    ) -> list[dict[str, Any]]:
        out = self.run(
            "template",
            release,
            str(chart),
            "--namespace",
            namespace,
            "--kube-version",
            kube_version,
            *self.value_args(values, sets),
        ).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]


def kube_version(api: Any) -> str:
    """The apiserver's own version (`v1.36.3`), as Helm's --kube-version wants it."""
    return str(kubernetes.client.VersionApi(api).get_code().git_version)


def api_message(error: DynamicApiError) -> str:
    """The apiserver's Status message of a failed call."""
    body: Any = getattr(error, "body", None)
    try:
        return str(json.loads(body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(error)


def _dynamic(api: Any) -> Any:
    client: Any = DynamicClient  # the dynamic client has no type hints
    return client(api)


def dry_run_create(api: Any, objs: Iterable[dict[str, Any]]) -> list[str]:
    """Each object POSTed with dryRun=All and strict field validation (an unknown or duplicate field is
    an error, not a warning); returns the apiserver's complaints, one per rejected object."""
    dynamic = _dynamic(api)
    problems = []
    for obj in objs:
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        try:
            dynamic.create(
                resource,
                body=obj,
                namespace=obj["metadata"].get("namespace") if resource.namespaced else None,
                dry_run="All",
                field_manager=TEST_MANAGER,
                query_params=[("fieldValidation", "Strict")],
            )
        except DynamicApiError as error:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {api_message(error)}")
    return problems


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60, interval: float = 0.5) -> Any:
    """parley.testing's wait_for, with the arguments in the order these tests use."""
    return waiting.wait_for(check, timeout, what, interval)


def crd_established(api: Any) -> bool:
    return modulecrds.established(api, CRD_NAME)


def apply_chart_crd(api: Any) -> None:
    """The documented CRD upgrade (`kubectl apply --server-side --force-conflicts -f
    charts/parley-operator/crds/chatplatform.yaml`), done through the API."""
    install_crd(api, OPERATOR_CHART / "crds" / "chatplatform.yaml", TEST_MANAGER)


def single_broker_topics(partitions: int = 2) -> dict[str, dict[str, int]]:
    """`kafka.topics` values naming every topic of the spec, small and with one replica each: the
    dev stack's Kafka has one broker (the default, as many as there are brokers at most 3, would do
    too; naming it keeps the test's values explicit)."""
    return {
        field.alias or name: {"partitions": partitions, "replicationFactor": 1}
        for name, field in Topics.model_fields.items()
    }
