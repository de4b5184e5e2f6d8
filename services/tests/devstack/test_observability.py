"""The dev stack's Prometheus scrapes whatever components are up (targets generated from the
component registry, not written by hand), and its Zipkin takes spans."""

from __future__ import annotations

import httpx
from parley.devstack.component import State
from parley.devstack.components.prometheus import scrape_groups
from parley.devstack.components.service import service_component
from parley.devstack.maven import Artifact
from parley.devstack.paths import Paths
from parley.devstack.stack import Stack
from parley.devstack.ui import Progress
from parley.testing.waiting import wait_for


def test_a_service_added_to_the_registry_later_is_a_scrape_target_with_its_labels() -> None:
    later = service_component("storage", requires=("postgres",))(Paths.from_env(), Progress())
    (group,) = scrape_groups([later])
    assert group == {
        "targets": ["127.0.0.1:8006"],
        "labels": {"job": "svc-storage", "__metrics_path__": "/metrics", "parley_service": "storage"},
    }


def test_an_artifact_with_a_classifier_names_it_last() -> None:
    jar = Artifact("io.zipkin", "zipkin-server", "3.5.1", classifier="exec")
    assert jar.coords == "io.zipkin:zipkin-server:3.5.1:jar:exec"


def test_prometheus_scrapes_every_component_that_is_up(
    dev_stack: Stack, prometheus_server: dict[str, str]
) -> None:
    dev_stack.write_endpoints()
    expected = {
        st.name
        for st in dev_stack.status()
        if st.state is State.UP and dev_stack.component(st.name).scrape_targets()
    }
    assert {"prometheus"} <= expected

    def scraped() -> set[str] | None:
        body = httpx.get(f"{prometheus_server['url']}/api/v1/targets", timeout=5).json()
        jobs = {t["labels"]["job"] for t in body["data"]["activeTargets"]}
        return jobs if jobs == expected else None

    wait_for(scraped, timeout=30, what=f"Prometheus scraping {sorted(expected)}")


def test_zipkin_takes_spans_and_answers_for_them(zipkin_server: dict[str, str]) -> None:
    trace_id = "5af7183fb1d4cf5f" + "0123456789abcdef"
    span = {
        "traceId": trace_id,
        "id": "0123456789abcdef",
        "name": "devstack check",
        "timestamp": 1_700_000_000_000_000,
        "duration": 1000,
        "localEndpoint": {"serviceName": "devstack-test"},
    }
    assert httpx.post(zipkin_server["spans"], json=[span], timeout=5).status_code == 202
    found = wait_for(
        lambda: (
            httpx.get(f"{zipkin_server['url']}/api/v2/trace/{trace_id}", timeout=5).json()
            if httpx.get(f"{zipkin_server['url']}/api/v2/trace/{trace_id}", timeout=5).status_code == 200
            else None
        ),
        timeout=10,
        what="the span in Zipkin",
    )
    assert found[0]["name"] == "devstack check"
