"""What the control plane's components share: where the PKI and kubeconfigs live, how to reach
the apiserver as admin, and the kubeconfig files themselves."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import yaml

from parley.devstack import ports
from parley.devstack.components.kube.pki import Pki
from parley.devstack.paths import Paths

API_URL = f"https://{ports.HOST}:{ports.KUBE_APISERVER}"
CLUSTER_NAME = "parley-dev"


def pki(paths: Paths) -> Pki:
    return Pki(paths.data("kube") / "pki")


def admin_kubeconfig(paths: Paths) -> Path:
    """The admin kubeconfig people and tests use (KUBECONFIG in dev.env)."""
    return paths.state / "kubeconfig"


def component_kubeconfig(paths: Paths, client: str) -> Path:
    return paths.data("kube") / f"{client}.kubeconfig"


def write_kubeconfig(path: Path, keys: Pki, client: str) -> Path:
    """A self-contained kubeconfig (certificates inlined) for one of pki.CLIENTS."""

    def inline(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {"server": API_URL, "certificate-authority-data": inline(keys.ca_cert)},
            }
        ],
        "users": [
            {
                "name": client,
                "user": {
                    "client-certificate-data": inline(keys.client_cert(client)),
                    "client-key-data": inline(keys.client_key(client)),
                },
            }
        ],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": client}}],
        "current-context": CLUSTER_NAME,
    }
    text = yaml.safe_dump(config, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(text)
    return path


def admin_http(paths: Paths, timeout: float = 5.0) -> httpx.Client:
    """An HTTP client to the apiserver that authenticates as the admin and verifies its certificate."""
    keys = pki(paths)
    context = ssl.create_default_context(cafile=str(keys.ca_cert))
    context.load_cert_chain(keys.client_cert("admin"), keys.client_key("admin"))
    return httpx.Client(base_url=API_URL, verify=context, timeout=timeout)


def healthz(port: int, path: str = "/healthz") -> bool:
    """The secure health endpoint of a controller-manager or scheduler (self-signed serving
    certificate, and the path is open to anonymous callers by default)."""
    response = httpx.get(f"https://{ports.HOST}:{port}{path}", verify=False, timeout=3)  # noqa: S501
    return response.status_code == 200 and response.text == "ok"


def api_client(kubeconfig: Path) -> Any:
    """A kubernetes.client.ApiClient from a kubeconfig file (close it, or use it in `with`)."""
    configuration = kubernetes.client.Configuration()
    # The kubeconfig loader has no type annotations.
    kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    return kubernetes.client.ApiClient(configuration)
