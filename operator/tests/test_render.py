"""Properties every rendering must have, whatever the spec."""

from __future__ import annotations

from typing import Any

import pytest
from chatplatform_specs import FULL, MINIMAL, NAME, NAMESPACE, REQUIRED, with_change
from parley_operator.api.spec import SERVICE_NAMES, parse_spec
from parley_operator.names import CONFIG_HASH_ANNOTATION, Installation
from parley_operator.render import Release, RenderInput, render_all
from parley_operator.render.configmap import config_data

INST = Installation(NAMESPACE, NAME)
SPECS = {"required": REQUIRED, "minimal": MINIMAL, "full": FULL}


def _steady(raw: dict[str, Any], inst: Installation = INST) -> list[dict[str, Any]]:
    return render_all(RenderInput.steady(parse_spec(raw), inst)).all


def _kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


@pytest.mark.parametrize("raw", SPECS.values(), ids=SPECS.keys())
def test_each_service_has_a_hardened_deployment_and_a_service(raw: dict[str, Any]) -> None:
    objs = _steady(raw)
    deployments, services = _kind(objs, "Deployment"), _kind(objs, "Service")
    assert set(deployments) == {f"{NAME}-{s}" for s in SERVICE_NAMES}
    assert set(services) == set(deployments)
    for name, dep in deployments.items():
        service = name.removeprefix(f"{NAME}-")
        pod = dep["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert [container["command"][0], *container["args"][:2]] == ["parley", "serve", service]
        assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
        assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert (
            dep["spec"]["selector"]["matchLabels"].items()
            <= dep["spec"]["template"]["metadata"]["labels"].items()
        )
        assert "app.kubernetes.io/version" not in dep["spec"]["selector"]["matchLabels"]
        svc = services[name]
        assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
        assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == "http"


def test_autoscaled_deployments_leave_replicas_to_their_scaler() -> None:
    objs = _steady(FULL)
    deployments, hpas = _kind(objs, "Deployment"), _kind(objs, "HorizontalPodAutoscaler")
    # Socket scales on open connections, by the operator: an HPA on it as well would fight it.
    assert set(hpas) == {f"{NAME}-gateway"}
    scaled = {f"{NAME}-gateway", f"{NAME}-socket"}
    for name, dep in deployments.items():
        assert ("replicas" in dep["spec"]) == (name not in scaled), name
    assert [m["type"] for m in hpas[f"{NAME}-gateway"]["spec"]["metrics"]] == ["Resource"]
    assert deployments[f"{NAME}-consumer"]["spec"]["replicas"] == 4


def test_socket_without_a_connection_target_gets_a_cpu_hpa() -> None:
    spec = with_change(REQUIRED, "services.socket.autoscaling", {"minReplicas": 2, "maxReplicas": 5})
    (hpa,) = _kind(_steady(spec), "HorizontalPodAutoscaler").values()
    assert hpa["metadata"]["name"] == f"{NAME}-socket" and hpa["spec"]["maxReplicas"] == 5


def test_the_migration_job_retries_as_the_spec_says() -> None:
    for limit in (0, 3):
        spec = with_change(REQUIRED, "migration.backoffLimit", limit)
        fresh = RenderInput(parse_spec(spec), INST, None, migration=Release("1.4.0", "parley:1.4.0"))
        (job,) = _kind(render_all(fresh).all, "Job").values()
        assert job["spec"]["backoffLimit"] == limit


def test_disruption_budgets_only_where_configured() -> None:
    assert _kind(_steady(REQUIRED), "PodDisruptionBudget") == {}
    pdbs = _kind(_steady(FULL), "PodDisruptionBudget")
    assert set(pdbs) == {f"{NAME}-gateway", f"{NAME}-socket", f"{NAME}-consumer"}
    assert pdbs[f"{NAME}-consumer"]["spec"]["maxUnavailable"] == 2


def test_ingress_only_with_a_host() -> None:
    assert _kind(_steady(REQUIRED), "Ingress") == {}
    (ingress,) = _kind(_steady(FULL), "Ingress").values()
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": f"{NAME}-gateway", "port": {"number": 80}}
    assert ingress["spec"]["tls"] == [{"hosts": ["chat.acme.example"], "secretName": "chat-acme-tls"}]


def test_only_the_gateway_is_reachable_from_outside() -> None:
    policies = list(_kind(_steady(REQUIRED), "NetworkPolicy").values())
    open_to_all = [p for p in policies for rule in p["spec"].get("ingress", []) if "from" not in rule]
    assert [p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in open_to_all] == [
        "gateway"
    ]
    deny = _kind(policies, "NetworkPolicy")[f"{NAME}-default-deny"]
    assert deny["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in deny["spec"]


def test_config_points_at_the_auth_service_and_prefixes_by_installation() -> None:
    data = config_data(RenderInput.steady(parse_spec(REQUIRED), INST))
    assert data["PARLEY_AUTH_ISSUER"] == f"http://{NAME}-auth.{NAMESPACE}.svc"
    assert data["PARLEY_AUTH_JWKS_URL"] == f"http://{NAME}-auth.{NAMESPACE}.svc/.well-known/jwks.json"
    assert data["PARLEY_KAFKA_TOPIC_PREFIX"] == "chat.acme"
    assert data["PARLEY_REDIS_KEY_PREFIX"] == "chat.acme:"
    assert not any("secret" in value.lower() for value in data.values())


def test_secrets_and_own_settings_reach_only_the_services_that_need_them() -> None:
    deployments = _kind(_steady(FULL), "Deployment")

    def env(service: str) -> dict[str, Any]:
        container = deployments[f"{NAME}-{service}"]["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: e.get("value") for e in container["env"]}

    assert "PARLEY_AUTH_SIGNING_KEY_FILE" in env("auth")
    assert env("auth")["PARLEY_AUTH_ACCESS_TOKEN_TTL_SECONDS"] == "600"
    assert "PARLEY_AUTH_ACCESS_TOKEN_TTL_SECONDS" not in env("api")
    assert "PARLEY_POSTGRES_DSN" not in env("presence")
    assert not set(env("gateway")) & {"PARLEY_POSTGRES_DSN", "PARLEY_AUTH_SIGNING_KEY_FILE"}


def test_a_config_change_rolls_the_pods() -> None:
    def hashes(raw: dict[str, Any]) -> set[str]:
        return {
            d["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
            for d in _kind(_steady(raw), "Deployment").values()
        }

    before, after = hashes(REQUIRED), hashes(with_change(REQUIRED, "kafka.bootstrapServers", "other:9092"))
    assert len(before) == len(after) == 1 and before != after
    assert hashes(with_change(REQUIRED, "services.api.replicas", 5)) == before


def test_generated_signing_key_is_create_only_and_only_when_none_is_named() -> None:
    spec = parse_spec(REQUIRED)
    steady = RenderInput.steady(spec, INST)
    with_key = render_all(RenderInput(spec, INST, steady.services_release, None, "PEM"))
    (secret,) = with_key.create_once
    assert secret["metadata"]["name"] == f"{NAME}-signing-key"
    assert not any(o["kind"] == "Secret" for o in with_key.apply)
    assert render_all(steady).create_once == []  # exists already: nothing to create
    named = parse_spec(FULL)
    assert render_all(RenderInput(named, INST, steady.services_release, None, "PEM")).create_once == []


def test_fresh_install_runs_the_migration_before_any_deployment() -> None:
    spec = parse_spec(REQUIRED)
    release = Release(spec.version, spec.image_ref)
    rendered = render_all(RenderInput(spec, INST, services_release=None, migration=release)).all
    assert _kind(rendered, "Deployment") == {}
    (job,) = _kind(rendered, "Job").values()
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["migrate"] and container["image"] == "parley:1.4.0"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert {e["name"] for e in container["env"]} >= {"PARLEY_POSTGRES_DSN"}


def test_upgrade_holds_deployments_on_the_running_release_while_migrating() -> None:
    spec = parse_spec(with_change(REQUIRED, "version", "1.5.0"))
    old, new = Release("1.4.0", "parley:1.4.0"), Release("1.5.0", "parley:1.5.0")
    rendered = render_all(RenderInput(spec, INST, services_release=old, migration=new)).all
    images = {
        d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in _kind(rendered, "Deployment").values()
    }
    assert images == {"parley:1.4.0"}
    (job,) = _kind(rendered, "Job").values()
    assert job["metadata"]["name"] == f"{NAME}-migrate-1-5-0"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "parley:1.5.0"


def test_names_fit_kubernetes_limits_for_the_longest_platform_name() -> None:
    inst = Installation("a-rather-long-namespace-name-for-testing-limits", "p" * 40)
    raw = with_change(FULL, "version", "10.20.30-rc.1+build.2024.11.28.with.a.long.suffix")
    for obj in _steady(raw, inst):
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]
        for value in obj["metadata"]["labels"].values():
            assert len(value) <= 63
    job = inst.migration_job("10.20.30-rc.1+build.2024.11.28.with.a.long.suffix")
    assert len(job) <= 63 and job.startswith("p" * 20)


def test_every_child_lives_in_the_platform_namespace_with_recommended_labels() -> None:
    for obj in _steady(FULL):
        assert obj["metadata"]["namespace"] == NAMESPACE
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "parley-operator"
        assert labels["app.kubernetes.io/instance"] == NAME
        assert labels["app.kubernetes.io/part-of"] == "parley"
