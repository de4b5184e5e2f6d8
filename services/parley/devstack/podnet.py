"""The pod network of the dev stack's real node: one Linux bridge with the pods' gateway address.

The bridge is made before the backing servers start, so they can listen on its address as well as
on 127.0.0.1: pods reach the host through their gateway, never through loopback (which is their
own). The CNI bridge plugin finds the bridge already there and attaches the pods to it. Servers
never listen on 0.0.0.0: the bridge exists only on this machine, so nothing outside reaches them.

Making a bridge needs root (CAP_NET_ADMIN). Without it the stack runs as before, loopback only,
and the real node is not available.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess

BRIDGE = "cni0"
POD_SUBNET = "10.244.0.0/24"
GATEWAY = "10.244.0.1"
"""The bridge's address: the pods' default gateway, the node's IP, and where pods reach the host."""


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def bridge_address() -> str | None:
    """GATEWAY when the bridge is up with it (making it when we can); None otherwise."""
    if _has_gateway():
        return GATEWAY
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return None
    prefix = ipaddress.ip_network(POD_SUBNET).prefixlen
    if _ip("link", "show", BRIDGE).returncode != 0:
        _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{GATEWAY}/{prefix}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    return GATEWAY if _has_gateway() else None


def _has_gateway() -> bool:
    if shutil.which("ip") is None:
        return False
    shown = _ip("-o", "-4", "addr", "show", "dev", BRIDGE)
    return shown.returncode == 0 and f" {GATEWAY}/" in shown.stdout


def listen_hosts(loopback: str) -> list[str]:
    """Where a backing server listens: loopback, plus the bridge's address when there is one."""
    gateway = bridge_address()
    return [loopback] if gateway is None else [loopback, gateway]


def pods_endpoint(key: str, template: str) -> dict[str, str]:
    """`{"pods_<key>": template with the bridge's address}` when the bridge is up (how a pod of the
    real node reaches the server), else nothing. Never creates the bridge."""
    return {f"pods_{key}": template.format(GATEWAY)} if _has_gateway() else {}
