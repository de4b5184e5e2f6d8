"""kube-scheduler: binds pending pods to the (fake) nodes."""

from __future__ import annotations

from typing import ClassVar

from parley.devstack import ports
from parley.devstack.components.kube.control_plane import ControlPlaneComponent


class KubeScheduler(ControlPlaneComponent):
    name = "kube-scheduler"
    port: ClassVar[int] = ports.KUBE_SCHEDULER
