"""containerd (Debian's, CRI v1) with runc and the CNI plugins: the real node's container runtime.

It runs with its own configuration, root, state and socket under the dev stack's data directory, so
it never touches a system-wide containerd. What this machine needs (see docs/development.md, The
real node): no systemd cgroups, `restrict_oom_score_adj` (without CAP_SYS_RESOURCE runc cannot
raise a container's OOM score and fails to start it), and a pause image built here (no registry).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from parley.devstack import images, podnet, process, versions
from parley.devstack.component import Command, Component
from parley.devstack.components.kube.apiserver import EXTRA_SERVICE_CIDR
from parley.devstack.components.kube.pki import SERVICE_CLUSTER_IP_RANGE
from parley.devstack.errors import DevStackError
from parley.devstack.system import ensure_debian_packages

CONTAINERD = Path("/usr/bin/containerd")
CTR = Path("/usr/bin/ctr")
RUNC = Path("/usr/sbin/runc")
CNI_BIN = Path("/usr/lib/cni")
NAMESPACE = "k8s.io"
"""containerd's namespace for what the kubelet runs (CRI)."""
PACKAGES = {
    "containerd": str(CONTAINERD),
    "runc": str(RUNC),
    "containernetworking-plugins": str(CNI_BIN / "bridge"),
    # kube-proxy's and the bridge plugin's tools.
    "iptables": "/usr/sbin/iptables",
    "conntrack": "/usr/sbin/conntrack",
    # Images (the pause image, Parley's) are built with podman and imported.
    "podman": "/usr/bin/podman",
}
NETWORK_NAME = "parley-dev-pods"
SERVICE_CIDRS = (SERVICE_CLUSTER_IP_RANGE, EXTRA_SERVICE_CIDR[1])


class Containerd(Component):
    name = "containerd"
    start_timeout = 60.0

    @property
    def root(self) -> Path:
        return self.paths.data("containerd")

    @property
    def socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def config_file(self) -> Path:
        return self.root / "config.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    def ports(self) -> dict[str, int]:
        return {}

    def install(self) -> None:
        ensure_debian_packages(PACKAGES, self.setup_log)
        images.pause_image(self.paths, self.setup_log)

    def prepare(self) -> None:
        if podnet.bridge_address() is None:
            raise DevStackError(
                "the real node needs the pod bridge "
                f"{podnet.BRIDGE} ({podnet.GATEWAY}), which only root can create"
            )
        for sub in ("root", "state", "opt"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.cni_conf_dir.mkdir(parents=True, exist_ok=True)
        (self.cni_conf_dir / "10-parley.conflist").write_text(json.dumps(cni_conflist(self.root), indent=2))
        self.config_file.write_text(self._config())

    def _config(self) -> str:
        return f"""\
version = 2
root = "{self.root / "root"}"
state = "{self.root / "state"}"

[grpc]
  address = "{self.socket}"

[ttrpc]
  address = "{self.socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{self.root / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{images.PAUSE_IMAGE}"
  # Without CAP_SYS_RESOURCE runc cannot raise oom_score_adj; keep what we have.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{self.cni_conf_dir}"
"""

    def command(self) -> Command:
        return Command([str(CONTAINERD), f"--config={self.config_file}"])

    def ctr(self, *args: str) -> list[str]:
        return [str(CTR), f"--address={self.socket}", f"--namespace={NAMESPACE}", *args]

    def healthy(self) -> bool:
        # The CRI plugin loaded (it is what the kubelet talks to), not only the socket.
        result = subprocess.run(
            self.ctr("plugins", "ls"),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if result.returncode != 0:
            return False
        return _cri_ok(result.stdout)

    def after_start(self) -> None:
        self.import_image(images.pause_archive(self.paths))

    def _imported_marker(self, ref: str) -> Path:
        return self.root / "imported" / ref.replace("/", "_").replace(":", "_")

    def has_image(self, ref: str, image_id: str) -> bool:
        """Whether `ref` is in the node's store, imported from the podman image `image_id`."""
        marker = self._imported_marker(ref)
        if not marker.exists() or marker.read_text().split("\n")[0] != image_id:
            return False
        listed = subprocess.run(self.ctr("images", "ls", "-q"), capture_output=True, text=True, check=False)
        return ref in listed.stdout.split()

    def imported_as(self, image_id: str) -> str | None:
        """A name under which the podman image `image_id` is in the node's store already."""
        listed = subprocess.run(self.ctr("images", "ls", "-q"), capture_output=True, text=True, check=False)
        names = set(listed.stdout.split())
        folder = self.root / "imported"
        for marker in sorted(folder.glob("*")) if folder.exists() else []:
            marked_id, _, ref = marker.read_text().partition("\n")
            if marked_id == image_id and ref in names:
                return ref
        return None

    def tag_image(self, source: str, ref: str, image_id: str) -> None:
        process.run(self.ctr("images", "tag", "--force", source, ref), log_file=self.setup_log)
        self._mark(ref, image_id)

    def _mark(self, ref: str, image_id: str) -> None:
        marker = self._imported_marker(ref)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{image_id}\n{ref}")

    def import_image(self, archive: Path, ref: str | None = None, image_id: str | None = None) -> None:
        """Load a `podman save --format docker-archive` file into the node's image store."""
        process.run(self.ctr("images", "import", str(archive)), log_file=self.setup_log)
        if ref is not None and image_id is not None:
            self._mark(ref, image_id)

    def endpoints(self) -> dict[str, str]:
        return {"socket": self.endpoint, "pause_image": images.PAUSE_IMAGE, "version": versions.PAUSE_TAG}


def _cri_ok(plugins_listing: str) -> bool:
    for line in plugins_listing.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0] == "io.containerd.grpc.v1" and fields[1] == "cri":
            return fields[-1] == "ok"
    return False


def cni_conflist(root: Path) -> dict[str, object]:
    """The pods' network: a bridge (the one podnet made) with host-local addresses and port maps.
    No masquerading: pods talk to the host and to each other only. (containerd adds each pod's
    loopback itself, with the `loopback` plugin from the same directory.)"""
    return {
        "cniVersion": "1.0.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": podnet.BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": podnet.POD_SUBNET, "gateway": podnet.GATEWAY}]],
                    # Service ClusterIPs through the host, where kube-proxy's rules translate them;
                    # no default route: pods have nowhere else to go.
                    "routes": [{"dst": cidr, "gw": podnet.GATEWAY} for cidr in SERVICE_CIDRS],
                    "dataDir": str(root / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
