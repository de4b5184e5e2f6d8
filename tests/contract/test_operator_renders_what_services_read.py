"""What the operator renders is what the services read.

For every container the operator renders from a ChatPlatform (each service's Deployment and the
migration Job), the service's own Settings class is built from exactly what the pod would get: the
ConfigMap (envFrom), the container's env (values, Secret references with stand-in values, the
pod's fields) and the Secret files it mounts (written to a temporary directory at the same relative
paths). The test fails on a rendered PARLEY_ name that no field of that class reads, on a setting the
class says a deployment must set (`deploy_required`) that is not rendered, on a value the class
refuses, and on token settings that do not point at the auth Service.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from chatplatform_specs import FULL, MINIMAL, NAMESPACE, REQUIRED
from parley.api.settings import ApiSettings
from parley.auth.settings import AuthSettings
from parley.common.settings import ENV_PREFIX, BaseServiceSettings
from parley.common.topics import Topics
from parley.consumer.settings import ConsumerSettings
from parley.presence.settings import PresenceSettings
from parley.search.settings import SearchSettings
from parley.serve import SERVICES
from parley.socket.settings import SocketSettings
from parley.storage.settings import StorageSettings
from parley.web.settings import WebSettings
from parley_operator.api.spec import ChatPlatformSpec, parse_spec
from parley_operator.names import TOPICS, Installation
from parley_operator.render import Release, RenderInput, render_all

SETTINGS: dict[str, type[BaseServiceSettings]] = {
    "auth": AuthSettings,
    "api": ApiSettings,
    "socket": SocketSettings,
    "consumer": ConsumerSettings,
    "search": SearchSettings,
    "presence": PresenceSettings,
    "storage": StorageSettings,
    "web": WebSettings,
    "migrate": BaseServiceSettings,  # `parley migrate`
}
# The gateway is not a `parley serve` service: it becomes the Envoy entry point (its own issue).
NOT_PARLEY = {"gateway"}
SPECS = {"required": REQUIRED, "minimal": MINIMAL, "full": FULL}
INST = Installation(NAMESPACE, "acme")
# Read by the settings sources themselves rather than by a field.
SOURCE_NAMES = {f"{ENV_PREFIX}SECRETS_DIR"}


def stand_in_secrets(spec: ChatPlatformSpec) -> dict[tuple[str, str], str]:
    """A value for each Secret key a pod may reference, shaped as the real one is."""
    return {
        (spec.postgres.secret_name, spec.postgres.dsn_key): "postgresql://parley:pw@pg.db.svc:5432/parley",
        (spec.redis.secret_name, spec.redis.url_key): "redis://:pw@redis.db.svc:6379/0",
        (spec.opensearch.secret_name, spec.opensearch.url_key): "http://opensearch.db.svc:9200",
        (spec.s3.secret_name, spec.s3.endpoint_key): "https://s3.store.svc:9000",
        (spec.s3.secret_name, spec.s3.access_key_key): "access",
        (spec.s3.secret_name, spec.s3.secret_key_key): "secret",
    }


def containers(spec: ChatPlatformSpec) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(service, pod spec, container) of every rendered Parley container, and the ConfigMap data."""
    release = Release(spec.version, spec.image_ref)
    rendered = render_all(RenderInput(spec, INST, release, migration=release, signing_key_pem="PEM")).all
    found = []
    for obj in rendered:
        if obj["kind"] in ("Deployment", "Job"):
            pod = obj["spec"]["template"]["spec"]
            for container in pod["containers"]:
                found.append((obj["metadata"]["labels"]["app.kubernetes.io/component"], pod, container))
    return found


def config_maps(spec: ChatPlatformSpec) -> dict[str, dict[str, str]]:
    rendered = render_all(RenderInput.steady(spec, INST)).all
    return {o["metadata"]["name"]: o["data"] for o in rendered if o["kind"] == "ConfigMap"}


def pod_environment(
    spec: ChatPlatformSpec, pod: dict[str, Any], container: dict[str, Any], root: Path
) -> dict[str, str]:
    """The PARLEY_ variables the container starts with; mounted Secret files are written under `root`
    and variables naming them point there."""
    env: dict[str, str] = {}
    maps = config_maps(spec)
    for source in container.get("envFrom", []):
        env |= maps[source["configMapRef"]["name"]]
    secrets = stand_in_secrets(spec)
    secret_volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    mounts = {
        m["mountPath"]: secret_volumes[m["name"]]
        for m in container["volumeMounts"]
        if m["name"] in secret_volumes
    }
    for item in container["env"]:
        name = item["name"]
        if "value" in item:
            value = item["value"]
            for mount_path, volume in mounts.items():
                if value.startswith(mount_path + "/"):
                    relative = value.removeprefix(mount_path + "/")
                    assert relative in {i["path"] for i in volume["items"]}, f"{name}: {value} is not mounted"
                    path = root / mount_path.lstrip("/") / relative
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(f"stand-in for {volume['secretName']}\n")
                    value = str(path)
            env[name] = value
        elif "secretKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) in secrets, f"{name} references an unknown Secret key {ref}"
            env[name] = secrets[(ref["name"], ref["key"])]
        else:
            env[name] = "from-the-pod"
    return env


def unread_names(cls: type[BaseServiceSettings], env: dict[str, str]) -> list[str]:
    fields = set(cls.model_fields)
    unread = []
    for name in env:
        assert name.startswith(ENV_PREFIX), f"{name}: every Parley variable is PARLEY_-prefixed"
        field = name.removeprefix(ENV_PREFIX).lower()
        if field in fields or (field.endswith("_file") and field.removesuffix("_file") in fields):
            continue
        if name not in SOURCE_NAMES:
            unread.append(name)
    return unread


def build(
    cls: type[BaseServiceSettings], env: dict[str, str], monkeypatch: pytest.MonkeyPatch, root: Path
) -> BaseServiceSettings:
    with monkeypatch.context() as patch:
        for name in [n for n in os.environ if n.upper().startswith(ENV_PREFIX)]:
            patch.delenv(name)
        patch.setenv(f"{ENV_PREFIX}SECRETS_DIR", str(root / "no-secrets-dir"))
        for name, value in env.items():
            patch.setenv(name, value)
        return cls()


def test_every_service_has_a_settings_class_here() -> None:
    assert set(SETTINGS) - {"migrate"} == set(SERVICES)


@pytest.mark.parametrize("raw", SPECS.values(), ids=SPECS.keys())
def test_the_operator_renders_exactly_the_services_the_image_has(raw: dict[str, Any]) -> None:
    spec = parse_spec(raw)
    rendered = {service for service, _, _ in containers(spec)}
    assert rendered - NOT_PARLEY == set(SERVICES) | {"migrate"}


@pytest.mark.parametrize("raw", SPECS.values(), ids=SPECS.keys())
def test_each_container_gets_what_its_settings_read(
    raw: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = parse_spec(raw)
    issuers = set()
    for service, pod, container in containers(spec):
        if service in NOT_PARLEY:
            continue
        cls = SETTINGS[service]
        root = tmp_path / service
        env = pod_environment(spec, pod, container, root)
        assert unread_names(cls, env) == [], f"{service}: rendered names its {cls.__name__} does not read"
        settings = build(cls, env, monkeypatch, root)  # a value it refuses raises here
        missing = sorted(cls.deploy_required - settings.model_fields_set)
        assert missing == [], f"{service}: {cls.__name__} needs these rendered: {missing}"
        assert settings.service_name == service
        if service != "migrate":
            args = container["args"]
            assert args[:2] == ["serve", service]
            port = int(args[args.index("--port") + 1])
            assert {p["name"]: p["containerPort"] for p in container["ports"]}["http"] == port
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        if "auth_issuer" in cls.deploy_required:
            issuers.add((settings.auth_issuer, settings.auth_audience))
        if "auth_jwks_url" in cls.deploy_required:
            assert settings.auth_jwks_url == f"http://acme-auth.{NAMESPACE}.svc/.well-known/jwks.json"
        if "kafka_topic_prefix" in cls.deploy_required:
            assert Topics(settings.kafka_topic_prefix).all() == [INST.topic(t) for t in TOPICS]
        if service == "auth":
            assert isinstance(settings, AuthSettings)
            assert settings.auth_signing_key is not None
            assert settings.auth_signing_key.get_secret_value().startswith("stand-in for ")
    # Auth issues for the audience the others check, under the issuer they expect: its Service.
    assert issuers == {(f"http://acme-auth.{NAMESPACE}.svc", INST.prefix)}


def test_a_name_no_settings_read_is_caught() -> None:
    """The check itself: a misspelt name (the one this test was written after) is reported."""
    env = {"PARLEY_ACCESS_TOKEN_TTL_SECONDS": "900", "PARLEY_AUTH_SIGNING_KEY_FILE": "/k"}
    assert unread_names(AuthSettings, env) == ["PARLEY_ACCESS_TOKEN_TTL_SECONDS"]


def test_operator_and_services_name_topics_alike() -> None:
    """names.TOPICS (what the operator creates) and parley.common.topics (what services produce to and
    consume from): the same topics, `<namespace>.<platform>.<topic>.v1`, from the same prefix."""
    for inst in (INST, Installation("team-a", "chat-prod")):
        assert [inst.topic(t) for t in TOPICS] == Topics(inst.prefix).all()
    data = config_maps(parse_spec(REQUIRED))["acme-config"]
    assert data["PARLEY_KAFKA_TOPIC_PREFIX"] == INST.prefix
