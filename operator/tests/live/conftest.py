"""Fixtures of the operator's live tests: the dev cluster with the ChatPlatform CRD, one operator
process for the session (watching only this run's namespaces), and a namespace per test whose
platforms and external resources are removed afterwards, whatever the test did."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from parley.testing.chatplatforms import (
    Platforms,
    TimedOut,
    create_infra_secrets,
    install_crd,
    remove_external_resources,
)
from parley.testing.operator_process import OperatorProcess

FINALIZE_SECONDS = 30
RUN_PREFIX = f"oplive-{uuid.uuid4().hex[:6]}-"
"""Namespaces of this run: the operator watches `<prefix>*`, so a developer's platforms and other
runs' are none of its business."""


@pytest.fixture(scope="session")
def chatplatform_crd(k8s_api: Any) -> None:
    install_crd(k8s_api)


@pytest.fixture(scope="session")
def operator(
    kubeconfig: Path, chatplatform_crd: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator, a separate process; tests may kill and start it (`operator.kill()`)."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    process = OperatorProcess(kubeconfig, [f"{RUN_PREFIX}*"], log)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def platforms(k8s_api: Any) -> Platforms:
    return Platforms(k8s_api)


@pytest.fixture(scope="session")
def infra(
    kafka_server: dict[str, str], s3_server: dict[str, str], opensearch_server: dict[str, str]
) -> dict[str, Any]:
    """Where the dev stack's Kafka, S3 and OpenSearch are."""
    return {
        "kafka_bootstrap": kafka_server["bootstrap"],
        "s3": s3_server,
        "opensearch_url": opensearch_server["url"],
    }


def _new_namespace(core: Any) -> str:
    name = f"{RUN_PREFIX}{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        kubernetes.client.V1Namespace(
            metadata=kubernetes.client.V1ObjectMeta(name=name, labels={"parley.dev/test": "true"})
        )
    )
    return name


class Namespaces:
    """Namespaces of one test, each with the Secrets a platform names."""

    def __init__(self, api: Any, infra: dict[str, Any]) -> None:
        self.api = api
        self.infra = infra
        self.core = kubernetes.client.CoreV1Api(api)
        self.made: list[str] = []

    def new(self) -> str:
        name = _new_namespace(self.core)
        self.made.append(name)
        create_infra_secrets(self.api, name, self.infra["s3"], self.infra["opensearch_url"])
        return name

    def clean(self, platforms: Platforms) -> list[str]:
        """Removes everything; returns the platforms the operator failed to finalize in time."""
        stuck: list[str] = []
        for namespace in self.made:
            stuck += self._delete_platforms(namespace, platforms)
            asyncio.run(
                remove_external_resources(
                    namespace,
                    self.infra["kafka_bootstrap"],
                    self.infra["s3"],
                    self.infra["opensearch_url"],
                )
            )
            self.core.delete_namespace(namespace, propagation_policy="Background")
        return stuck

    @staticmethod
    def _delete_platforms(namespace: str, platforms: Platforms) -> list[str]:
        names = [p["metadata"]["name"] for p in platforms.list(namespace)]
        for name in names:
            platforms.delete(namespace, name)
        stuck = []
        for name in names:
            try:
                # The operator finalizes (Delete policy: removes topics, bucket and index).
                platforms.wait_gone(namespace, name, timeout=FINALIZE_SECONDS)
            except TimedOut:
                stuck.append(f"{namespace}/{name}")
                platforms.remove_finalizers(namespace, name)
        return stuck


@pytest.fixture
def namespaces(
    k8s_api: Any, infra: dict[str, Any], platforms: Platforms, operator: OperatorProcess
) -> Iterator[Namespaces]:
    made = Namespaces(k8s_api, infra)
    try:
        yield made
    finally:
        if operator.process is None:  # a test that killed it and failed before starting it again
            operator.start()
        stuck = made.clean(platforms)
    # After the cleaning, so that a failure here leaves nothing behind either.
    assert not stuck, (
        f"the operator did not finalize {stuck} within {FINALIZE_SECONDS}s; see {operator.log_path}"
    )


@pytest.fixture
def namespace(namespaces: Namespaces) -> str:
    """A fresh namespace the operator watches, holding the Secrets platforms name."""
    return namespaces.new()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that used the operator shows the operator's last log lines: CI keeps only the
    test report, not the log file."""
    outcome: Any = yield
    report = outcome.get_result()
    operator = getattr(item, "funcargs", {}).get("operator")
    if report.failed and isinstance(operator, OperatorProcess):
        report.sections.append(("operator log, last 60 lines", operator.log_tail(60)))
