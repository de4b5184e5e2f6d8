"""Building the control plane's programs from Go modules into the cache, once per version."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

from parley.devstack import versions
from parley.devstack.errors import DevStackError
from parley.devstack.golang import go_install, go_installed, go_mod_download, go_run, wrapper_module
from parley.devstack.paths import Paths

# The control plane, kubectl, and the real node's kubelet and kube-proxy: one `go build` of the same
# release, so the packages they share compile once.
KUBE_BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "kube-proxy",
)
# Node: initialise to Ready, then keep it alive with a Lease; pods: Ready, Succeeded, gone on delete.
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
# The apiserver, controller-manager, scheduler, kubelet and kube-proxy components all need these
# binaries and install in parallel threads: one builds, the others wait and find them (a `go build`
# each of the same binaries would each link them, costing minutes of CPU on a small machine).
_KUBE_BUILD = threading.Lock()

_STAGING = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", re.MULTILINE)


def etcd_path(paths: Paths) -> Path:
    return paths.builds / "bin" / f"etcd-{versions.ETCD}" / "etcd"


def kube_bindir(paths: Paths) -> Path:
    return paths.builds / "bin" / f"kubernetes-{versions.KUBERNETES}"


def kube_path(paths: Paths, name: str) -> Path:
    """Where one of KUBE_BINARIES is, once built."""
    return kube_bindir(paths) / name


def kwok_path(paths: Paths) -> Path:
    return go_installed(paths, "kwok", versions.KWOK)


def helm_path(paths: Paths) -> Path:
    # "-versioned": built with the version information of helm's own Makefile (earlier builds
    # without it assumed Kubernetes v1.20 and failed charts' kubeVersion checks).
    return paths.builds / "bin" / f"helm-{versions.HELM}-versioned" / "helm"


def build_etcd(paths: Paths, log_file: Path) -> Path:
    """etcd from a wrapper module: `go install` refuses etcd's server module (relative replaces)."""
    binary = etcd_path(paths)
    if binary.exists():
        return binary
    wrapper = wrapper_module(paths, f"etcd-{versions.ETCD}", "module parley.dev/etcd\n\ngo 1.26\n")
    go_run(
        paths, ["get", "-tool", f"go.etcd.io/etcd/server/v3@{versions.ETCD}"], cwd=wrapper, log_file=log_file
    )
    build_into(paths, wrapper, ["go.etcd.io/etcd/server/v3"], binary.parent, {"server": "etcd"}, [], log_file)
    return binary


def build_kubernetes(paths: Paths, log_file: Path) -> Path:
    """KUBE_BINARIES of versions.KUBERNETES; returns their directory."""
    with _KUBE_BUILD:
        return _build_kubernetes(paths, log_file)


def _build_kubernetes(paths: Paths, log_file: Path) -> Path:
    bindir = kube_bindir(paths)
    missing = [name for name in KUBE_BINARIES if not (bindir / name).exists()]
    if not missing:
        return bindir
    version = versions.KUBERNETES
    major, minor, patch = version.removeprefix("v").split(".")
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with its own
    # source tree; published, they are v0.<minor>.<patch>. The list changes between releases.
    # (A few, like sample-cli-plugin, are not published; their replace lines are harmless since
    # nothing requires them.)
    go_mod_path = Path(go_mod_download(paths, "k8s.io/kubernetes", version, log_file)["GoMod"])
    staging = _STAGING.findall(go_mod_path.read_text())
    replaces = "".join(f"\t{m} => {m} v0.{minor}.{patch}\n" for m in staging)
    go_mod = f"module parley.dev/kubernetes\n\ngo 1.26\n\nreplace (\n{replaces})\n"
    wrapper = wrapper_module(paths, f"kubernetes-{version}", go_mod)
    go_run(paths, ["get", f"k8s.io/kubernetes@{version}"], cwd=wrapper, log_file=log_file)
    # Without these the binaries report v0.0.0-master and Helm's kubeVersion checks fail.
    ldflags = [
        f"-X {pkg}.{key}={value}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in (
            ("gitVersion", version),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
        )
    ]
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in missing]
    # One `go build` for all: the packages they share compile once.
    if len(missing) == len(KUBE_BINARIES):
        build_into(paths, wrapper, packages, bindir, {}, ldflags, log_file)
        return bindir
    # Binaries added to the list after the others were built (the node's kubelet and kube-proxy
    # came after the control plane): only those are built, next to the others.
    added = bindir.with_name(bindir.name + ".added")
    build_into(paths, wrapper, packages, added, {}, ldflags, log_file)
    for name in missing:
        (added / name).rename(bindir / name)
    shutil.rmtree(added, ignore_errors=True)
    return bindir


def install_kwok(paths: Paths, log_file: Path) -> Path:
    return go_install(paths, "sigs.k8s.io/kwok/cmd/kwok", versions.KWOK, "kwok", log_file)


def kwok_stages(paths: Paths, log_file: Path) -> str:
    """kwok's default stages, as kwokctl configures them, from kwok's own module source: the
    kwok binary alone simulates nothing without them. Multi-document YAML."""
    source = Path(go_mod_download(paths, "sigs.k8s.io/kwok", versions.KWOK, log_file)["Dir"])
    return "---\n".join((source / "kustomize" / "stage" / stage).read_text() for stage in KWOK_STAGES)


_CLIENT_GO = re.compile(r"^\s*k8s\.io/client-go v0\.(\d+)\.", re.MULTILINE)


def install_helm(paths: Paths, log_file: Path) -> Path:
    """helm with the -X flags its Makefile sets: its version, and the Kubernetes version it assumes
    for `helm template` and `helm lint` (1.<minor of the client-go it is built with>)."""
    binary = helm_path(paths)
    if binary.exists():
        return binary
    go_mod = Path(go_mod_download(paths, "helm.sh/helm/v3", versions.HELM, log_file)["GoMod"]).read_text()
    found = _CLIENT_GO.search(go_mod)
    if found is None:
        raise DevStackError(f"helm {versions.HELM}: no k8s.io/client-go requirement in its go.mod")
    ldflags = ["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={versions.HELM}"]
    for pkg in ("helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"):
        ldflags += [f"-X {pkg}.k8sVersionMajor=1", f"-X {pkg}.k8sVersionMinor={found[1]}"]
    return go_install(
        paths,
        "helm.sh/helm/v3/cmd/helm",
        versions.HELM,
        "helm",
        log_file,
        ldflags=tuple(ldflags),
        binary=binary,
    )


def build_into(
    paths: Paths,
    wrapper: Path,
    packages: list[str],
    bindir: Path,
    renames: dict[str, str],
    ldflags: list[str],
    log_file: Path,
) -> None:
    """Build into a scratch dir first so a half-finished build never looks installed."""
    scratch = bindir.with_name(bindir.name + ".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    args = ["build", "-o", str(scratch) + "/", "-ldflags", " ".join(["-s", "-w", *ldflags]), *packages]
    try:
        go_run(paths, args, cwd=wrapper, log_file=log_file)
    except DevStackError:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    for built, name in renames.items():
        (scratch / built).rename(scratch / name)
    shutil.rmtree(bindir, ignore_errors=True)
    scratch.rename(bindir)
