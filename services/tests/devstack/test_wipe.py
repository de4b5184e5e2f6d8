"""`parley dev down --wipe` deletes the data even where a server left mounts in it (the kubelet
bind-mounts its root onto itself, pod volumes below it), and keeps the cache."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from parley.devstack.paths import Paths
from parley.devstack.wipe import mounts_under, wipe


def bind(source: Path, target: Path) -> None:
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)


@pytest.fixture
def paths(tmp_path: Path) -> Iterator[Paths]:
    paths = Paths(cache=tmp_path / "cache", state=tmp_path / "state", user_state=tmp_path / "user")
    yield paths
    for point in mounts_under(tmp_path):  # a failed test leaves no mount behind
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_wipe_unmounts_what_the_servers_left_and_deletes_the_data(paths: Paths) -> None:
    root = paths.data("kubelet") / "root"
    volume = root / "pods" / "a pod" / "volumes" / "config"
    volume.mkdir(parents=True)
    source = paths.data("kubelet") / "configmap data"
    source.mkdir()
    (source / "key").write_text("value")
    bind(root, root)  # what the kubelet does with its root directory
    bind(source, volume)  # a pod's volume below it, with a space in its path
    paths.pids.mkdir(parents=True)
    (paths.pids / "kafka.pid").write_text("1")
    (paths.user_data("postgres") / "data").mkdir(parents=True)
    paths.downloads.mkdir(parents=True)
    (paths.downloads / "kafka.tgz").write_bytes(b"kept")
    assert {root, volume} <= set(mounts_under(paths.state))

    deleted = wipe(paths)

    assert deleted == [paths.state / "data", paths.pids, paths.user_state]
    assert mounts_under(paths.state) == []
    assert not (paths.state / "data").exists() and not paths.pids.exists() and not paths.user_state.exists()
    assert (paths.downloads / "kafka.tgz").read_bytes() == b"kept"


def test_mount_points_are_read_with_their_escapes(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "36 35 98:0 / /srv/data rw - ext4 /dev/a rw\n"
        "37 36 98:0 / /srv/data/a\\040b rw - ext4 /dev/a rw\n"
        "38 37 98:0 / /srv/data/a\\040b/c rw - ext4 /dev/a rw\n"
        "39 35 98:0 / /srv/database rw - ext4 /dev/a rw\n"
    )
    assert mounts_under(Path("/srv/data"), mountinfo) == [
        Path("/srv/data/a b/c"),
        Path("/srv/data/a b"),
        Path("/srv/data"),
    ]
